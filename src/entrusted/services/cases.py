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
from entrusted.domain.policy import Action, Actor, ActorKind, Decision, Effect, Resource
from entrusted.domain.policy import ResourceKind as Kind
from entrusted.domain.registry import Identification
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.consent_parts import ConsentParts, load_case
from entrusted.services.gate import AccessContext
from entrusted.services.grants import GrantService, end_in, grant_resource

MAX_LIST = 500


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
        if old.open:
            raise Conflict(f"case {old.id} is still open")
        contract = p.contract(old.contract_id)
        if contract is None or contract.holder_id != old.customer_id:
            raise Conflict(f"contract {old.contract_id} changed hands; open a new case for it")
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
        p.gate.decide(actor, Action.CREATE, case.resource(), ctx)
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
        limit: int = 100,
    ) -> list[Case]:
        """Cases, newest first: support and sysadmins list any; a customer lists their own."""
        try:
            wanted = None if status is None else CaseStatus(status)
        except ValueError:
            raise InvalidInput("status", "must be open or resolved") from None
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIST}")
        if actor.kind is ActorKind.CUSTOMER:
            customer_id = customer_id or actor.id
            scope = Resource(Kind.CASE, f"customer/{customer_id}", owner=customer_id)
            self._p.gate.decide(actor, Action.READ, scope)
        else:
            label = f"customer/{customer_id}" if customer_id else "all"
            self._p.gate.decide(actor, Action.LIST, Resource(Kind.CASE, label, owner=customer_id))
        with self._p.uow() as uow:
            return uow.cases.find(wanted, customer_id, limit)

    def resolve(self, actor: Actor, case_id: str) -> Case:
        """Resolve a case: its requests are withdrawn and its grants end in the same
        transaction; then the ends are ledgered and the customer gets a closing summary."""
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
            uow.commit()
        for r in withdrawn:
            p.gate.record_outcome(
                actor,
                Action.DELETE,
                grant_resource(r.id, r.customer_id),
                Decision(Effect.PERMIT, "consent.request", "request withdrawn: case resolved"),
                AccessContext(case_id=case_id),
            )
        self._grants.announce_ended(actor, ended)
        p.notices.closing_summary(resolved)
        return resolved
