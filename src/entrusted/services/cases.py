"""Support cases (P11): the scope every consent is tied to.

Support opens a case for a contract (the holder is the case's customer), or the holder opens
one for their own contract. Resolving it withdraws its pending access requests, ends every
grant on it in the same transaction, and e-mails the customer a closing summary of what was
accessed under it, drawn from the ledger. A resolved case stays resolved; `reopen` opens a
new case pointing back at it, a new consent scope in which no old grant revives.

```python
case = cases.open(support, "ctr_1", "Mail is slow since Monday")
cases.get(support, case.id)          # the case, its identifications, requests, grants
cases.resolve(support, case.id)      # every grant ends now; the customer gets a summary
```
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from entrusted.domain.cases import (
    AccessRequest,
    Case,
    CaseStatus,
    Grant,
    GrantEnd,
    RequestStatus,
    VerbalConsent,
    clean_subject,
)
from entrusted.domain.outbox import Topic
from entrusted.domain.policy import Action, Actor, ActorKind, Resource
from entrusted.domain.policy import ResourceKind as Kind
from entrusted.domain.registry import Identification
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.consent_parts import ConsentParts, load_case
from entrusted.services.gate import AccessContext
from entrusted.services.grants import GrantService, end_in, grant_resource
from entrusted.services.outbox import queue
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import ConsentUnitOfWork

MAX_LIST = 500
PAGE_MAX = 100  # a page of cases; a support agent's own open cases fit on one
PAGE_DEFAULT = 20


def _theirs(uow: ConsentUnitOfWork, case: Case, actor: Actor) -> bool:
    return (
        case.opened_by == actor.id
        or any(r.staff_id == actor.id for r in uow.access_requests.for_case(case.id))
        or any(g.staff_id == actor.id for g in uow.grants.for_case(case.id))
    )


def staff_case(
    uow: ConsentUnitOfWork, customer_id: str, contract_id: str, staff_id: str | None
) -> str | None:
    """The open case an attempt on the contract's data belongs to, when the caller named none
    (an IMAP login names only a mailbox): the staff member's own (opened by them, or with a
    request or grant of theirs), else the newest open case on the contract. Filing the attempt
    under it puts it, allowed or refused, in that case's closing summary."""
    with_contract = [
        c
        for c in uow.cases.find(CaseStatus.OPEN, customer_id, MAX_LIST)
        if c.contract_id == contract_id
    ]
    for case in with_contract if staff_id else ():
        if (
            case.opened_by == staff_id
            or any(g.staff_id == staff_id for g in uow.grants.for_case(case.id))
            or any(r.staff_id == staff_id for r in uow.access_requests.for_case(case.id))
        ):
            return case.id
    return with_contract[0].id if with_contract else None


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case with everything consent-related attached to it."""

    case: Case
    identifications: tuple[Identification, ...]
    requests: tuple[AccessRequest, ...]
    grants: tuple[Grant, ...]
    consents: tuple[VerbalConsent, ...]


class CaseService:
    def __init__(self, parts: ConsentParts, grants: GrantService) -> None:
        self._p = parts
        self._grants = grants

    def open(self, actor: Actor, contract_id: str, subject: str) -> Case:
        """Open a case for a contract: support for any, a customer for their own."""
        p = self._p
        text = clean_subject(subject)
        contract = p.contract(contract_id)
        if contract is None:
            raise NotFound("contract", contract_id)
        case = Case(
            p.ids("case"),
            contract.holder_id,
            contract.id,
            text,
            CaseStatus.OPEN,
            p.clock(),
            actor.id,
        )
        p.gate.decide(actor, Action.CREATE, case.resource(), AccessContext(case_id=case.id))
        with p.uow() as uow:
            uow.cases.add(case)
            uow.commit()
        return case

    def reopen(self, actor: Actor, case_id: str, subject: str | None = None) -> Case:
        """A new case continuing a resolved one: a new consent scope, nothing carried over."""
        p = self._p
        with p.uow() as uow:
            old = load_case(uow, case_id)
        text = clean_subject(subject if subject is not None else old.subject)
        case = Case(
            p.ids("case"),
            old.customer_id,
            old.contract_id,
            text,
            CaseStatus.OPEN,
            p.clock(),
            actor.id,
            reopened_from=old.id,
        )
        ctx = AccessContext(case_id=case.id, note=f"reopens {old.id}")
        # Decided before the old case's state is looked at: an actor who may not open a case
        # for this customer learns nothing about their cases or contract (issue 11).
        p.gate.decide(actor, Action.CREATE, case.resource(), ctx)
        if old.open:
            raise Conflict(f"case {old.id} is still open")
        contract = p.contract(old.contract_id)
        if contract is None or contract.holder_id != old.customer_id:
            raise Conflict(f"contract {old.contract_id} changed hands; open a new case for it")
        with p.uow() as uow:
            uow.cases.add(case)
            uow.commit()
        return case

    def get(self, actor: Actor, case_id: str) -> CaseView:
        p = self._p
        with p.uow() as uow:
            case = load_case(uow, case_id)
            requests = uow.access_requests.for_case(case.id)
            grants = uow.grants.for_case(case.id)
            consents = uow.consents.for_case(case.id)
        p.gate.decide(actor, Action.READ, case.resource(), AccessContext(case_id=case.id))
        with p.registry.uow() as uow:
            idents = [
                i
                for i in uow.identifications.for_customer(case.customer_id)
                if i.case_id == case.id
            ]
        now = p.clock()
        return CaseView(
            case,
            tuple(idents),
            tuple(replace(r, status=r.state_at(now)) for r in requests),
            tuple(grants),
            tuple(consents),
        )

    def find(
        self,
        actor: Actor,
        status: str | None = None,
        customer_id: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> list[Case]:
        """Cases, newest first, at most `PAGE_MAX`: a customer lists their own; a staff member
        lists one customer's (`customer_id`, an id support gets only from a throttled, ledgered
        look-up) or else only their own: opened by them, or with a request or grant of theirs.
        The whole case file is no list to page through (issue 11 item 4)."""
        try:
            wanted = None if status is None else CaseStatus(status)
        except ValueError:
            raise InvalidInput("status", "must be open or resolved") from None
        if not 1 <= limit <= PAGE_MAX:
            raise InvalidInput("limit", f"must be between 1 and {PAGE_MAX}")
        if actor.kind is ActorKind.CUSTOMER:
            customer_id = customer_id or actor.id
            scope = Resource(Kind.CASE, f"customer/{customer_id}", owner=customer_id)
            self._p.gate.decide(actor, Action.READ, scope)
        else:
            label = f"customer/{customer_id}" if customer_id else f"staff/{actor.id}"
            self._p.gate.decide(actor, Action.LIST, Resource(Kind.CASE, label, owner=customer_id))
        with self._p.uow() as uow:
            if customer_id is not None or actor.kind is not ActorKind.STAFF:
                return uow.cases.find(wanted, customer_id, limit)
            return [c for c in uow.cases.find(wanted, None, MAX_LIST) if _theirs(uow, c, actor)][
                :limit
            ]

    def resolve(self, actor: Actor, case_id: str) -> Case:
        """Resolve a case: its requests are withdrawn and its grants end in the same
        transaction, with the customer's closing summary queued in the outbox (rendered from
        the ledger at delivery); then the ends are ledgered."""
        p = self._p
        with p.uow() as uow:
            case = load_case(uow, case_id)
        p.gate.decide(actor, Action.RESOLVE, case.resource(), AccessContext(case_id=case.id))
        now = p.clock()
        with p.uow() as uow:
            current = load_case(uow, case_id)
            if not current.open:
                raise Conflict(f"case {case_id} is already resolved")
            resolved = replace(
                current, status=CaseStatus.RESOLVED, resolved_at=now, resolved_by=actor.id
            )
            uow.cases.update(resolved)
            withdrawn = [
                r
                for r in uow.access_requests.for_case(case_id)
                if r.status is RequestStatus.PENDING
                and uow.access_requests.answer(r.id, RequestStatus.WITHDRAWN, now, actor.id, None)
            ]
            live = [g for g in uow.grants.for_case(case_id) if g.ended_at is None]
            ended = end_in(uow, live, now, actor.id, GrantEnd.CASE_RESOLVED)
            queue(uow.outbox, Topic.CLOSING_SUMMARY, case_id, now)
            uow.commit()
        for r in withdrawn:
            p.outcomes.record(
                actor,
                Action.DELETE,
                grant_resource(r.id, r.customer_id),
                Outcome.REQUEST,
                "request withdrawn: case resolved",
                AccessContext(case_id=case_id),
            )
        self._grants.announce_ended(actor, ended)
        return resolved
