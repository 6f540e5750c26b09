"""The disclosure desk as the composition root wires it (P4, P5): its unit of work, the gate's
`court_order` resolver, the two services, what the customer's own views hold back while a
notice is deferred, and the worker's `disclosures.lift` job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from entrusted.adapters.db.disclosure_store import SqlDisclosureUnitOfWork
from entrusted.adapters.scheduler import Job
from entrusted.bootstrap.actors import WORKER
from entrusted.crypto.personal import RegistryKeys
from entrusted.services.court_orders import CourtOrderCovers, CourtOrders, DisclosureParts
from entrusted.services.disclosure_holdback import HeldBack
from entrusted.services.disclosures import Disclosures
from entrusted.services.gate import Gate
from entrusted.services.outbox import MailTemplates
from entrusted.services.ports import Clock, DisclosureUnitOfWork

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

DISCLOSURE_LIFT_JOB = "disclosures.lift"


@dataclass(frozen=True, slots=True)
class Desk:
    orders: CourtOrders
    disclosures: Disclosures
    held_back: HeldBack  # for the customer-facing views of the ledger (export, receipts)


def desk_uow(engine: sa.Engine, read_only: bool = False) -> Callable[[], DisclosureUnitOfWork]:
    def uow() -> DisclosureUnitOfWork:
        return SqlDisclosureUnitOfWork(engine, read_only=read_only)

    return uow


def court_order_resolver(engine: sa.Engine, clock: Clock) -> CourtOrderCovers:
    """Read-only units, like the gate's other resolvers: they never wait for SQLite's lock."""
    return CourtOrderCovers(desk_uow(engine, read_only=True), clock)


def build_desk(
    engine: sa.Engine,
    gate: Gate,
    keys: Callable[[], RegistryKeys],
    clock: Clock,
    mails: MailTemplates,
) -> Desk:
    parts = DisclosureParts(desk_uow(engine), gate, keys, clock, mails=mails)
    held_back = HeldBack(desk_uow(engine, read_only=True), clock)
    return Desk(CourtOrders(parts), Disclosures(parts), held_back)


def attach_desk(c: Container, desk: Desk) -> None:
    """Hand the desk to the container, and the worker a job lifting deferred notices (as often
    as the outbox is delivered: the query is one indexed look-up)."""
    c.desk = desk
    c.jobs.append(Job(DISCLOSURE_LIFT_JOB, c.settings.outbox_interval_s, lambda: _lift(desk)))


def _lift(desk: Desk) -> str | None:
    lifted = desk.disclosures.lift_deferred(WORKER, judge_when_none=False)
    return f"{lifted} deferred notice(s) lifted" if lifted else None
