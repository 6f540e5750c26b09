"""Small typed events between areas, dispatched synchronously from one bus built in bootstrap.

An area that changes something other areas must react to publishes an event after its change
has committed; bootstrap subscribes the reactions. The publisher does not know who listens,
and a listener is a plain function of the event, testable on its own.

    bus = EventBus()
    bus.subscribe(StaffDisabled, end_their_grants)
    bus.publish(StaffDisabled(staff_id="stf_1", by=operator))   # runs end_their_grants
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar, cast

import structlog

from entrusted.domain.cases import Grant
from entrusted.domain.policy import Actor, Role

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StaffDisabled:
    """A staff member was disabled (their tokens are already revoked): whatever access they
    still hold elsewhere (grants, live mail sessions) must end now."""

    staff_id: str
    by: Actor


@dataclass(frozen=True, slots=True)
class StaffRolesRemoved:
    """Roles were taken from a staff member: access given to them in those roles ends now."""

    staff_id: str
    removed: frozenset[Role]
    by: Actor


@dataclass(frozen=True, slots=True)
class GrantEnded:
    """A grant ended (in the database, and ledgered): the servers it let staff into (mail,
    FTP) must close the sessions still open under it."""

    grant: Grant


@dataclass(frozen=True, slots=True)
class GrantSessionEnded:
    """One session under a grant was closed (the staff member logged out through the API, or
    the server reported it): a server still serving that session must stop."""

    grant: Grant
    session_id: str


@dataclass(frozen=True, slots=True)
class PolicyDocumentPublished:
    """A new version of the public policy document was published (P17), and committed: the
    customers are told of the amendment by a `terms_amendment` mailing (P7)."""

    version_id: str
    effective: date
    summary: str
    actor: Actor


E = TypeVar("E")


class EventBus:
    """Runs every handler subscribed to an event's class, in subscription order. A failing
    handler does not stop the others (each reaction is independent and the change it reacts
    to has committed); the first failure is raised once all have run, so the caller learns
    that the reaction is incomplete instead of a silent half-done state."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers.setdefault(kind, []).append(cast(Callable[[Any], None], handler))

    def publish(self, event: object) -> None:
        first: Exception | None = None
        for handler in self._handlers.get(type(event), []):
            try:
                handler(event)
            except Exception as exc:  # run the others, then raise the first
                log.error("event handler failed", kind=type(event).__name__, exc_info=True)
                first = first or exc
        if first is not None:
            raise first
