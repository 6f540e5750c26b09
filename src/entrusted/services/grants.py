"""Consent grants (P9, P10, P11): using one, and every way one ends.

A grant names one staff member, one resource (a mailbox or an FTP space) and one case. It is
single use by default: `use` opens a session (the mail and FTP areas call it when the staff
member logs in) and consumes one of the grant's sessions; once they are spent and the last
session is closed, the grant has ended. It also ends at the earliest of: its case resolved,
the customer revoking it (or disowning the verbal consent behind it), its backstop duration,
the contract transferred or cancelled. Ending never waits for the ledger or a mail relay: the
grant is ended in the database first, then the outcome is ledgered, a `GrantEnded` event is
published (the mail and FTP servers close live sessions on it) and the customer is told.

`ActiveGrant` is the gate's `active_grant` condition: true only for an active grant of
exactly this staff member, resource and case (and grant, if the request names one) that has
a session left or one open, while its case is open and its contract still held, active and
hosting the resource.

```python
session = grants.use(support, "gnt_1")        # on login; refused for anyone else
grants.end_session(support, session.session.id)
grants.revoke(customer, "gnt_1")              # the customer withdraws it
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from entrusted.domain.cases import CaseStatus, Grant, GrantEnd, GrantSession
from entrusted.domain.outbox import Topic
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, Service
from entrusted.domain.policy import ResourceKind as Kind
from entrusted.domain.registry import ContractStatus
from entrusted.errors import Conflict, NotFound
from entrusted.services.consent_parts import ConsentParts, load_case
from entrusted.services.consent_views import GrantView, describe_grant
from entrusted.services.events import EventBus, GrantEnded, GrantSessionEnded
from entrusted.services.gate import AccessContext
from entrusted.services.outbox import queue
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import (
    Clock,
    ConsentUnitOfWork,
    ConsentUnitOfWorkFactory,
    RegistryUnitOfWorkFactory,
)

# A customer's open cases looked through for active grants (a resolved case ended its grants):
# far more than anyone has open at once.
MAX_CASES = 500
# Which integration's token may close a session it reports ended: the server it runs on.
SERVER_OF = {Kind.MAILBOX_CONTENT: Service.MAIL_HOOK, Kind.FTP_SPACE: Service.FTP_SERVER}


@dataclass(frozen=True, slots=True)
class GrantUse:
    """A session opened under a grant, and the grant as it stands after it."""

    session: GrantSession
    grant: Grant


def grant_resource(grant_id: str, customer_id: str) -> Resource:
    return Resource(Kind.GRANT, grant_id, owner=customer_id)


def end_in(
    uow: ConsentUnitOfWork, grants: Sequence[Grant], at: datetime, by: str, reason: GrantEnd
) -> list[Grant]:
    """End `grants` and their open sessions inside `uow` (not committed); returns the ones
    this call ended (a grant another request ended first is skipped)."""
    ended = []
    for g in grants:
        if uow.grants.end(g.id, at, reason, by):
            for session in uow.grants.open_sessions(g.id):
                uow.grants.end_session(session.id, at)
            current = uow.grants.get(g.id)
            assert current is not None
            ended.append(current)
            queue(uow.outbox, Topic.ENDED, g.id, at)
    return ended


class GrantService:
    def __init__(self, parts: ConsentParts, events: EventBus | None = None) -> None:
        self._p = parts
        self._events = events

    def _get(self, grant_id: str) -> Grant:
        with self._p.uow() as uow:
            found = uow.grants.get(grant_id)
        if found is None:
            raise NotFound("grant", grant_id)
        return found

    def _asked(self, actor: Actor, action: Action, grant_id: str) -> Grant:
        """The grant a request names; one that does not exist is a ledgered refusal (404)."""
        try:
            return self._get(grant_id)
        except NotFound:
            self._p.outcomes.not_found(
                actor, action, Resource(Kind.GRANT, grant_id), Outcome.UNKNOWN_ID, "grant"
            )

    def get(self, actor: Actor, grant_id: str) -> Grant:
        """A grant, for whoever may read its case: its customer, support and sysadmins."""
        grant = self._asked(actor, Action.READ, grant_id)
        with self._p.uow() as uow:
            case = load_case(uow, grant.case_id)
        ctx = AccessContext(case_id=case.id, grant_id=grant.id)
        self._p.gate.decide(actor, Action.READ, case.resource(), ctx)
        return grant

    def view(self, actor: Actor, grant_id: str) -> GrantView:
        """`get` in words a person reads (what, who by name, which case)."""
        return describe_grant(self._p, self.get(actor, grant_id))

    def active_for_customer(self, actor: Actor) -> list[GrantView]:
        """The signed-in customer's own active grants, newest first (the portal's "my
        grants"). One decision for the list, ledgered like any read: the rules let a
        customer read their own grants, and nobody else list them here."""
        p = self._p
        scope = Resource(Kind.GRANT, f"customer/{actor.id}", owner=actor.id)
        p.gate.decide(actor, Action.READ, scope, AccessContext(note="active grants"))
        now = p.clock()
        with p.uow() as uow:
            cases = uow.cases.find(CaseStatus.OPEN, actor.id, MAX_CASES)
            live = [
                g
                for c in cases
                for g in uow.grants.for_case(c.id)
                if g.customer_id == actor.id and g.active_at(now)
            ]
        live.sort(key=lambda g: (g.created_at, g.id), reverse=True)
        return [describe_grant(p, g) for g in live]

    # --- use -----------------------------------------------------------------------------

    def use(self, actor: Actor, grant_id: str) -> GrantUse:
        """Open a session under the grant: the gate decides (only the named staff member, on
        an active grant with a session left), then one session is consumed atomically."""
        p = self._p
        grant = self._asked(actor, Action.ENTER, grant_id)
        resource, now = grant.resource(), p.clock()
        ctx = AccessContext(case_id=grant.case_id, grant_id=grant.id)
        if actor.kind is not ActorKind.STAFF or actor.id != grant.staff_id:
            # Checked before the gate: the customer's own-mail rule would otherwise let the
            # holder consume the agent's grant and open a "staff" session in their own name.
            p.outcomes.refuse(
                actor,
                grant.action,
                resource,
                Outcome.NOT_THE_GRANTEE,
                f"grant {grant.id} is for one staff member; only they open sessions under it",
                ctx,
            )
        if grant.active_at(now) and grant.spent:
            p.outcomes.refuse(
                actor,
                grant.action,
                resource,
                Outcome.SESSIONS_SPENT,
                f"grant {grant.id} allowed {grant.max_sessions} session(s); all are used",
                ctx,
            )
        # The session's entry says "read-only" when the grant is: the server enforces it (the
        # FTP server ledgers each refused write; Dovecot's ACLs refuse without telling us).
        opened = replace(ctx, note="read-only") if grant.read_only else ctx
        p.gate.decide(actor, grant.action, resource, opened)
        session = GrantSession(p.ids("gss"), grant.id, actor.id, now)
        with p.uow() as uow:
            consumed = uow.grants.consume(grant.id, now)
            current = uow.grants.get(grant.id)
            if consumed:
                uow.grants.add_session(session)
                if current is not None and current.sessions_used == 1:
                    queue(uow.outbox, Topic.USED, grant.id, now)
                uow.commit()
        assert current is not None
        if not consumed:
            p.outcomes.refuse(
                actor,
                grant.action,
                resource,
                Outcome.SESSIONS_SPENT,
                f"grant {grant.id} ended or was used up meanwhile",
                ctx,
            )
        return GrantUse(session, current)

    def end_session(self, actor: Actor, session_id: str) -> Grant:
        """Close a session (the staff member logs out, or the mail or FTP server reports it).
        Closing the last session of a spent grant ends the grant."""
        p = self._p
        with p.uow() as uow:
            session = uow.grants.get_session(session_id)
            grant = None if session is None else uow.grants.get(session.grant_id)
        if session is None or grant is None:
            p.outcomes.not_found(
                actor, Action.DELETE, Resource(Kind.GRANT, session_id), Outcome.UNKNOWN_ID,
                "session",
            )
        ctx = AccessContext(case_id=grant.case_id, grant_id=grant.id, note=f"session {session.id}")
        own = actor.kind is ActorKind.STAFF and actor.id == session.staff_id
        server = actor.kind is ActorKind.SERVICE and actor.id == SERVER_OF[grant.resource_kind]
        if not (own or server):
            p.outcomes.refuse(
                actor,
                grant.action,
                grant.resource(),
                Outcome.SESSION,
                "only the staff member of a session, or the server it runs on, closes it",
                ctx,
            )
        now = p.clock()
        with p.uow() as uow:
            closed = uow.grants.end_session(session.id, now)
            still_open = uow.grants.open_sessions(grant.id)
            current = uow.grants.get(grant.id)
            uow.commit()
        if not closed:
            raise Conflict(f"session {session.id} is already closed")
        assert current is not None
        closing = f"session {session.id} closed"
        p.outcomes.record(actor, grant.action, grant.resource(), Outcome.SESSION, closing, ctx)
        if self._events is not None:  # the server still serving it, if any, stops
            self._events.publish(GrantSessionEnded(current, session.id))
        if current.spent and not still_open and current.ended_at is None:
            self.end_grants(actor, [current], GrantEnd.USED)
            return self._get(grant.id)
        return current

    # --- ending --------------------------------------------------------------------------

    def revoke(self, actor: Actor, grant_id: str) -> Grant:
        """The customer withdraws a grant; the rules let only its owner do so."""
        grant = self._asked(actor, Action.DELETE, grant_id)
        ctx = AccessContext(case_id=grant.case_id, grant_id=grant.id, note="revoked")
        self._p.gate.decide(actor, Action.DELETE, grant_resource(grant.id, grant.customer_id), ctx)
        if grant.ended_at is not None:
            raise Conflict(f"grant {grant.id} has already ended ({grant.end_reason})")
        self.end_grants(actor, [grant], GrantEnd.REVOKED)
        return self._get(grant.id)

    def end_grants(self, actor: Actor, grants: Sequence[Grant], reason: GrantEnd) -> list[Grant]:
        """End `grants` now, then announce it; returns those this call ended."""
        if not grants:
            return []
        with self._p.uow() as uow:
            ended = end_in(uow, grants, self._p.clock(), actor.id, reason)
            uow.commit()
        self.announce_ended(actor, ended)
        return ended

    def announce_ended(self, actor: Actor, ended: Sequence[Grant]) -> None:
        """After grants ended: ledger each end and publish `GrantEnded` (the customer's notice
        was queued in the outbox with the change, by `end_in`)."""
        for g in ended:
            reason = g.end_reason.value if g.end_reason else "ended"
            self._p.outcomes.record(
                actor,
                Action.DELETE,
                grant_resource(g.id, g.customer_id),
                Outcome.GRANT_ENDED,
                f"grant ended: {reason}",
                AccessContext(case_id=g.case_id, grant_id=g.id),
            )
        if self._events is not None:  # the servers close sessions open under them
            for g in ended:
                self._events.publish(GrantEnded(g))

    def sweep(self, actor: Actor) -> int:
        """The expiry job's half for grants: end those past their backstop, those spent with
        no session open, and those whose contract changed hands or was cancelled (normally
        ended at once by the registry's hook; this catches a crash in between)."""
        p = self._p
        now = p.clock()
        with p.uow() as uow:
            active = uow.grants.active()
            idle = {g.id for g in active if g.spent and not uow.grants.open_sessions(g.id)}
        by_reason: dict[GrantEnd, list[Grant]] = {}
        for g in active:
            contract = p.contract(g.contract_id)
            if now >= g.expires_at:
                reason = GrantEnd.EXPIRED
            elif contract is None or contract.holder_id != g.customer_id:
                reason = GrantEnd.TRANSFERRED
            elif contract.status is ContractStatus.CANCELLED:
                reason = GrantEnd.CANCELLED
            elif g.id in idle:
                reason = GrantEnd.USED
            else:
                continue
            by_reason.setdefault(reason, []).append(g)
        count = 0
        for reason, grants in by_reason.items():
            for g in grants:
                ctx = AccessContext(case_id=g.case_id, grant_id=g.id, note=reason.value)
                p.gate.decide(actor, Action.DELETE, grant_resource(g.id, g.customer_id), ctx)
            count += len(self.end_grants(actor, grants, reason))
        return count


class GrantProbe(Protocol):
    """Whether any open grant row names (staff id, resource id, case id): a cheap yes/no the
    resolver asks first, so the common denial (no grant at all) opens no unit of work."""

    def __call__(self, staff_id: str, service_id: str, case_id: str) -> bool: ...


class ActiveGrant:
    """The gate's `active_grant` resolver (see the module doc)."""

    def __init__(
        self,
        uow: ConsentUnitOfWorkFactory,
        registry: RegistryUnitOfWorkFactory,
        clock: Clock,
        probe: GrantProbe | None = None,
    ) -> None:
        self._uow = uow
        self._registry = registry
        self._clock = clock
        self._probe = probe

    def __call__(self, actor: Actor, resource: Resource, context: AccessContext) -> bool:
        if actor.kind is not ActorKind.STAFF or context.case_id is None or resource.owner is None:
            return False
        if self._probe is not None and not self._probe(actor.id, resource.id, context.case_id):
            return False  # no open grant row: what `matching` below would find empty
        now = self._clock()
        with self._uow() as uow:
            live = [
                g
                for g in uow.grants.matching(actor.id, resource.id, context.case_id)
                if g.active_at(now)
                and g.resource_kind is resource.kind
                and g.customer_id == resource.owner
                and context.grant_id in (None, g.id)
                and (not g.spent or uow.grants.open_sessions(g.id))
            ]
            case = uow.cases.get(context.case_id) if live else None  # no grant: no look-up
        if not live or case is None or not case.open:
            return False
        with self._registry() as registry:
            contract = registry.contracts.get(live[0].contract_id)
        return (
            contract is not None
            and contract.status is ContractStatus.ACTIVE
            and contract.holder_id == resource.owner
            and any(s.id == resource.id for s in contract.services)
        )
