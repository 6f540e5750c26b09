"""Entering a customer's resource under a grant (P9, P10, P11, P14): the one decision every
boundary (the mail server's staff login, the FTP server's) asks for.

A staff member logs in at a server as `target*staffname` with their own password. They pass
only under their own live grant for exactly that resource, and each login consumes one of
the grant's sessions. Every refusal is ledgered with its reason, also those decided before
the rules are asked: a caller other than the boundary's server token (`server_only`), a wrong
password or unknown staff member (`unauthenticated`, filed under the resource's holder when
the target exists), an unknown target (`unknown_target`). An attempt on a resource whose
contract has an open case carries that case (the staff member's own, else the newest), so the
case's closing summary lists refused attempts as well as allowed ones.

Why one service: the rule "own grant, exactly this resource, one session" must not drift
between the mail and FTP doors. A boundary (`Boundary`) says only what differs: the resource
kind, the server token allowed to ask, how a target name is found, and its outcome ids.

When a grant ends, `grant_ended` (subscribed to the `GrantEnded` event) asks each server
that registered its `GrantSessions` for that resource kind to close the sessions open under
it; when one grant session is closed elsewhere (the staff member logs out through the API),
`session_ended` asks them to stop serving it.

```python
entry = GrantEntry(parts, staff, grants)
done = entry.enter(ftp_server, FTP_BOUNDARY, "office-backup", "sam", password, "192.0.2.7")
done.grant_id, done.session_id, done.read_only     # or Refused / AuthenticationFailed / NotFound
```
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from entrusted.domain.audit import Receipt
from entrusted.domain.cases import Grant
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.domain.registry import StoredContract
from entrusted.domain.staff import ServiceName
from entrusted.errors import AuthenticationFailed, Conflict, NotFound, RateLimited, Refused
from entrusted.services.cases import staff_case
from entrusted.services.consent_parts import ConsentParts
from entrusted.services.events import EventBus, GrantEnded, GrantSessionEnded
from entrusted.services.gate import AccessContext
from entrusted.services.grants import GrantService
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import GrantSessions
from entrusted.services.staff import StaffService

log = logging.getLogger(__name__)

# How a refused login's entry names a username that is no staff member's (see `enter`).
UNKNOWN_STAFF = "an unknown staff name"


@dataclass(frozen=True, slots=True)
class Target:
    """A hosted resource as a boundary found it: the service and the contract holding it."""

    service_id: str
    contract: StoredContract

    @property
    def holder_id(self) -> str:
        return self.contract.holder_id


@dataclass(frozen=True, slots=True)
class Boundary:
    """What differs between the doors into a customer's resource (see the module doc)."""

    kind: ResourceKind
    noun: str  # how errors name the resource: "mailbox", "FTP space"
    server: ServiceName
    action: Action
    note: str  # the ledger's id-only remark for a login here ("imap login", "ftp login")
    find: Callable[[str], Target | None]
    server_only: Outcome
    unauthenticated: Outcome
    unknown_target: Outcome
    no_grant: Outcome

    @property
    def unknown(self) -> Resource:
        """What a refusal is filed against when the target names nothing hosted (never the
        name itself, which may be personal)."""
        return Resource(self.kind, "unknown-" + self.noun.lower().replace(" ", "-"))


@dataclass(frozen=True, slots=True)
class Entry:
    """An allowed staff login: the grant and session it runs under, and when it ends at the
    latest."""

    grant_id: str
    session_id: str
    case_id: str
    expires_at: datetime
    read_only: bool
    service_id: str
    holder_id: str
    contract_id: str
    member: Actor  # the staff member, as the gate knows them (with their roles)


class GrantEntry:
    def __init__(self, parts: ConsentParts, staff: StaffService, grants: GrantService) -> None:
        self._p = parts
        self._staff = staff
        self._grants = grants
        self._servers: dict[ResourceKind, list[GrantSessions]] = {}

    def enter(
        self,
        caller: Actor,
        boundary: Boundary,
        target: str,
        username: str,
        password: str,
        remote_ip: str,
    ) -> Entry:
        """Decide a staff login to `target` at `boundary` (see the module doc)."""
        outcomes, b = self._p.outcomes, boundary
        ctx = AccessContext(note=b.note)
        if caller.kind is not ActorKind.SERVICE or caller.id != b.server.value:
            why = f"only the {b.server.value} service asks this"
            outcomes.refuse(caller, b.action, b.unknown, b.server_only, why, ctx)
        found = b.find(target)
        resource = b.unknown if found is None else self._resource(b, found)
        try:
            member = self._staff.check_password(username, password, remote_ip or "unknown")
        except (AuthenticationFailed, RateLimited) as exc:
            case_id = None if found is None else self._case(None, found)
            # By id, or not at all: a username is whatever the client typed (an address, a
            # customer's name) and the ledger is permanent and shown to the customer.
            who = self._staff.staff_id_of(username) or UNKNOWN_STAFF
            outcomes.record(
                caller,
                b.action,
                resource,
                b.unauthenticated,
                f"{b.note} as {who} refused: {_reason_without_input(exc)}",
                AccessContext(case_id=case_id, note=b.note),
                allowed=False,
            )
            raise
        if found is None:
            outcomes.record(
                member,
                b.action,
                resource,
                b.unknown_target,
                f"{b.note} refused: the target is not hosted here",
                ctx,
                allowed=False,
            )
            raise NotFound(b.noun, "with that name")
        live, case_id = self._live(found, member.id, with_case=True)
        usable = [g for g in live if not g.spent]
        if not usable and live:
            # A grant whose sessions are all used still counts for the sessions it opened (the
            # gate would allow them), but never for a new login: one-off means one-off (P11).
            spent = live[0]
            outcomes.refuse(
                member,
                b.action,
                resource,
                Outcome.SESSIONS_SPENT,
                f"grant {spent.id} allowed {spent.max_sessions} session(s); all are used",
                AccessContext(case_id=spent.case_id, grant_id=spent.id, note=b.note),
            )
        if not usable:
            # The gate decides (and ledgers) the attempt: without a grant the rules refuse.
            ctx = AccessContext(case_id=case_id, note=b.note)
            self._p.gate.decide(member, b.action, resource, ctx)
            outcomes.refuse(member, b.action, resource, b.no_grant, "no usable grant", ctx)
        grant = min(usable, key=lambda g: g.expires_at)
        used = self._grants.use(member, grant.id)
        return Entry(
            grant.id,
            used.session.id,
            grant.case_id,
            used.grant.expires_at,
            grant.read_only,
            found.service_id,
            found.holder_id,
            found.contract.id,
            member,
        )

    def step(self, boundary: Boundary, entry: Entry, note: str) -> Receipt | None:
        """Whether the gate still lets the staff member in under `entry`'s grant for one step of the
        session (the grant has not ended, its case is open, the contract still holds the
        resource): the receipt of the allow entry, None when refused. The gate ledgers the
        answer either way, with `note` (an id-only remark such as "ftp list"), so each listing
        and download under a grant is on record."""
        resource = Resource(boundary.kind, entry.service_id, owner=entry.holder_id)
        ctx = AccessContext(case_id=entry.case_id, grant_id=entry.grant_id, note=note)
        try:
            return self._p.gate.decide(entry.member, boundary.action, resource, ctx).receipt
        except Refused:
            return None

    def resume(self, session_id: str) -> tuple[Entry, bool] | None:
        """The entry of a grant session read back by its id, and whether the session is still
        open (a server on another host names its session by id only; everything else comes
        from the database, never from the server's word). None if the session, its grant or
        its staff member is gone."""
        with self._p.read() as uow:
            session = uow.grants.get_session(session_id)
            grant = None if session is None else uow.grants.get(session.grant_id)
        if session is None or grant is None:
            return None
        member = self._staff.actor_of(grant.staff_id)
        if member is None:
            return None
        return Entry(
            grant.id,
            session.id,
            grant.case_id,
            grant.expires_at,
            grant.read_only,
            grant.service_id,
            grant.customer_id,
            grant.contract_id,
            member,
        ), session.ended_at is None

    def live(self, entry: Entry) -> bool:
        """Whether `entry`'s grant is still active, read without asking the gate (a server's
        periodic check of its open sessions; each command still asks the gate)."""
        with self._p.read() as uow:
            grant = uow.grants.get(entry.grant_id)
        return grant is not None and grant.active_at(self._p.clock())

    def leave(self, server: Actor, session_id: str) -> None:
        """The server reports a session closed (logout, disconnect); closing the last session
        of a spent grant ends the grant. A session the grant's end already closed is fine."""
        try:
            self._grants.end_session(server, session_id)
        except Conflict:
            return

    def usable_grant(self, boundary: Boundary, target: str, staff_id: str) -> str | None:
        """The grant a login by `staff_id` to `target` at `boundary` would consume now, by id
        (None without one): `entrusted mail check` asks before a login that would use up a
        one-off session (P11). A read of the staff member's own grants; nothing is decided."""
        found = boundary.find(target)
        if found is None:
            return None
        live, _ = self._live(found, staff_id)
        usable = [g for g in live if not g.spent]
        return min(usable, key=lambda g: g.expires_at).id if usable else None

    def _live(
        self, found: Target, staff_id: str, with_case: bool = False
    ) -> tuple[list[Grant], str | None]:
        """`staff_id`'s grants active now for exactly `found`, spent ones included, and
        (`with_case`, only when none is usable) the case a refusal is filed under, read in
        the same unit: one read transaction per login, not two (`bench api`'s mail gate)."""
        now = self._p.clock()
        with self._p.read() as uow:
            live = [
                g
                for g in uow.grants.active_for_contract(found.contract.id)
                if g.staff_id == staff_id and g.service_id == found.service_id and g.active_at(now)
            ]
            case_id = None
            if with_case and not any(not g.spent for g in live):
                case_id = staff_case(uow, found.holder_id, found.contract.id, staff_id)
        return live, case_id

    def _resource(self, boundary: Boundary, found: Target) -> Resource:
        return Resource(boundary.kind, found.service_id, owner=found.holder_id)

    def _case(self, staff_id: str | None, found: Target) -> str | None:
        with self._p.read() as uow:
            return staff_case(uow, found.holder_id, found.contract.id, staff_id)

    # --- sessions of ended grants ----------------------------------------------------------

    def serve(self, kind: ResourceKind, sessions: GrantSessions) -> None:
        """Register a server's live sessions for resources of `kind`."""
        self._servers.setdefault(kind, []).append(sessions)

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(GrantEnded, self.grant_ended)
        bus.subscribe(GrantSessionEnded, self.session_ended)

    def grant_ended(self, event: GrantEnded) -> None:
        """Close the sessions open under an ended grant. A failure is logged and swallowed:
        the grant has ended in the database already, so no new login and no next command
        under it passes; the other servers and the customer's notice must still run."""
        grant = event.grant
        for sessions in self._servers.get(grant.resource_kind, []):
            try:
                sessions.kick(grant)
            except Exception:
                log.warning("could not end the sessions of grant %s", grant.id, exc_info=True)

    def session_ended(self, event: GrantSessionEnded) -> None:
        """Stop serving a grant session that was closed (the staff member logged out through
        the API); a failure is logged and swallowed, as for `grant_ended`."""
        for sessions in self._servers.get(event.grant.resource_kind, []):
            try:
                sessions.end(event.session_id)
            except Exception:
                log.warning("could not end session %s", event.session_id, exc_info=True)


def _reason_without_input(exc: AuthenticationFailed | RateLimited) -> str:
    """The refusal's kind, never its text (which may quote what the client sent)."""
    if isinstance(exc, RateLimited):
        return "too many failed attempts"
    return "wrong or unknown credentials"
