"""Consent by access request (P10, P11): express, specific, one-off permission from the
contract holder for one resource and one case. Verbal consent is `services/verbal_consent.py`;
both end in a grant (`services/grants.py`).

- **Access request.** A support agent asks for one mailbox (optionally read-only) or one FTP
  space of the case's contract, with a justification. The holder is e-mailed a single-use
  link; approving needs that link *and* the holder's own login, and names them as approver.
  An unanswered request lapses after `access_request_ttl_s`; approving after that, after the
  case is resolved, with a spent or wrong link, or as anyone but the current holder, is
  refused and ledgered, and grants nothing.
- **Expiry and the registry's hook.** `expire` is the worker's `grants.expire` job;
  `contract_changed` runs after a transfer or cancellation and ends consent at once.

```python
req = consent.request(support, "case_1", "svc_mbx", "IMAP is slow; I need to look at it")
grant = consent.approve(customer, req.id, token_from_the_email)
consent.expire(worker)                  # lapses requests, ends grants past their backstop
```
"""

from __future__ import annotations

from dataclasses import dataclass

from entrusted.crypto.secrets import token_digest
from entrusted.domain.cases import (
    AccessRequest,
    Grant,
    GrantEnd,
    GrantOrigin,
    RequestStatus,
    check_sessions,
    clean_justification,
    latest_end,
)
from entrusted.domain.outbox import Topic
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import Conflict, EntrustedError, NotFound, Unavailable
from entrusted.services.consent_parts import (
    APPROVAL_TOKEN_PREFIX,
    ConsentParts,
    consentable_service,
    load_case,
    new_secret,
)
from entrusted.services.consent_views import RequestView, describe_request
from entrusted.services.gate import AccessContext
from entrusted.services.grants import GrantService, grant_resource
from entrusted.services.outbox import queue
from entrusted.services.outcomes import Outcome


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    requests: int
    grants: int

    def __str__(self) -> str:
        return f"{self.requests} request(s) lapsed, {self.grants} grant(s) ended"


class ConsentService:
    def __init__(self, parts: ConsentParts, grants: GrantService) -> None:
        self._p = parts
        self._grants = grants

    def _request(self, request_id: str) -> AccessRequest:
        with self._p.uow() as uow:
            found = uow.access_requests.get(request_id)
        if found is None:
            raise NotFound("access request", request_id)
        return found

    def _asked(self, actor: Actor, action: Action, request_id: str) -> AccessRequest:
        """The request a caller names; one that does not exist is a ledgered refusal (404)."""
        try:
            return self._request(request_id)
        except NotFound:
            self._p.outcomes.not_found(
                actor, action, Resource(ResourceKind.GRANT, request_id), Outcome.UNKNOWN_ID,
                "access request",
            )

    # --- access requests -----------------------------------------------------------------

    def request(
        self,
        actor: Actor,
        case_id: str,
        service_id: str,
        justification: str,
        *,
        read_only: bool = False,
        sessions: int = 1,
    ) -> AccessRequest:
        """Ask the case's customer for one resource; they are e-mailed a single-use link.
        Nothing is stored if the e-mail cannot be sent."""
        p = self._p
        why = clean_justification(justification)
        check_sessions(sessions, p.limits.max_sessions)
        with p.uow() as uow:
            case = load_case(uow, case_id)
        request_id = p.ids("acr")
        ctx = AccessContext(case_id=case.id, note=f"access request {request_id}")
        p.gate.decide(actor, Action.UPDATE, case.resource(), ctx)
        service = consentable_service(
            p, actor, Action.UPDATE, case.resource(), ctx, case, service_id
        )
        now = p.clock()
        request = AccessRequest(
            request_id,
            case.id,
            case.customer_id,
            case.contract_id,
            service.id,
            service.kind,
            actor.id,
            why,
            read_only,
            sessions,
            RequestStatus.PENDING,
            now,
            now + p.limits.request_ttl,
        )
        hours = int(p.limits.grant_max_duration.total_seconds() // 3600)
        secret, digest = new_secret(APPROVAL_TOKEN_PREFIX)
        # The holder is asked before the request exists: only once the relay accepted the
        # e-mail is it stored (outside any transaction, so a slow relay holds no lock).
        try:
            p.notices.requested(request, secret, hours)
        except EntrustedError as exc:
            reason = f"the customer could not be asked ({exc.message}); nothing was stored"
            p.outcomes.record(
                actor, Action.UPDATE, case.resource(), Outcome.REQUEST, reason, ctx, allowed=False
            )
            raise Unavailable(reason) if isinstance(exc, Unavailable) else exc from None
        with p.uow() as uow:
            uow.access_requests.add(request, digest)
            uow.commit()
        return request

    def get_request(self, actor: Actor, request_id: str) -> AccessRequest:
        """A request, for its customer or staff who may read its case."""
        request = self._asked(actor, Action.READ, request_id)
        with self._p.uow() as uow:
            case = load_case(uow, request.case_id)
        self._p.gate.decide(actor, Action.READ, case.resource(), AccessContext(case_id=case.id))
        return request

    def request_view(self, actor: Actor, request_id: str) -> RequestView:
        """`get_request` in words a person reads (the portal's page of the mailed link)."""
        return describe_request(self._p, self.get_request(actor, request_id))

    def approve(self, actor: Actor, request_id: str, token: str) -> Grant:
        """The contract holder approves through their single-use link while logged in."""
        p = self._p
        request = self._asked(actor, Action.APPROVE, request_id)
        contract = p.contract(request.contract_id)
        holder = request.customer_id if contract is None else contract.holder_id
        resource = grant_resource(request.id, holder)
        ctx = AccessContext(case_id=request.case_id, note=f"approve {request.id}")
        p.gate.decide(actor, Action.APPROVE, resource, ctx)  # only the current holder passes
        self._check_answerable(actor, Action.APPROVE, request, token, required=True)
        with p.uow() as uow:
            case = load_case(uow, request.case_id)
        service = consentable_service(
            p, actor, Action.APPROVE, resource, ctx, case, request.service_id
        )
        now = p.clock()
        grant = Grant(
            p.ids("gnt"),
            case.id,
            case.customer_id,
            case.contract_id,
            service.id,
            service.kind,
            request.staff_id,
            request.read_only,
            request.sessions,
            GrantOrigin.REQUEST,
            request.id,
            actor.id,
            now,
            now + p.limits.grant_max_duration,
            policy_version=p.policy_version(now),
        )
        with p.uow() as uow:
            answered = uow.access_requests.answer(
                request.id, RequestStatus.APPROVED, now, actor.id, grant.id
            )
            if answered:
                uow.grants.add(grant)
                queue(uow.outbox, Topic.GRANTED, grant.id, now)
                uow.commit()
        if not answered:
            p.outcomes.refuse(
                actor,
                Action.APPROVE,
                resource,
                Outcome.LINK_SPENT,
                f"request {request.id} was answered meanwhile; this link is spent",
                ctx,
            )
        # "granted" reports the committed grant: ledgered only now (the APPROVE decision
        # before the write is what fails closed).
        grant_ctx = AccessContext(case_id=case.id, grant_id=grant.id, note=f"from {request.id}")
        p.outcomes.record(
            actor,
            Action.APPROVE,
            grant_resource(grant.id, holder),
            Outcome.GRANTED,
            f"{actor.id} approved {request.id}",
            grant_ctx,
        )
        return grant

    def deny(self, actor: Actor, request_id: str, token: str | None = None) -> AccessRequest:
        """The contract holder says no (with or without the e-mailed link)."""
        p = self._p
        request = self._asked(actor, Action.DELETE, request_id)
        contract = p.contract(request.contract_id)
        holder = request.customer_id if contract is None else contract.holder_id
        resource = grant_resource(request.id, holder)
        ctx = AccessContext(case_id=request.case_id, note=f"deny {request.id}")
        p.gate.decide(actor, Action.DELETE, resource, ctx)
        self._check_answerable(actor, Action.DELETE, request, token, required=False)
        with p.uow() as uow:
            answered = uow.access_requests.answer(
                request.id, RequestStatus.DENIED, p.clock(), actor.id, None
            )
            uow.commit()
        if not answered:
            raise Conflict(f"request {request.id} was answered meanwhile")
        p.outcomes.record(
            actor, Action.DELETE, resource, Outcome.REQUEST, "the customer said no", ctx
        )
        return self._request(request.id)

    def _check_answerable(
        self,
        actor: Actor,
        action: Action,
        request: AccessRequest,
        token: str | None,
        required: bool,
    ) -> None:
        p = self._p
        resource = grant_resource(request.id, request.customer_id)
        ctx = AccessContext(case_id=request.case_id, note=f"{action.value} {request.id}")
        if actor.id != request.customer_id:
            p.outcomes.refuse(
                actor,
                action,
                resource,
                Outcome.NOT_THE_HOLDER,
                f"request {request.id} was made to {request.customer_id}, not {actor.id}",
                ctx,
            )
        with p.uow() as uow:
            digest = uow.access_requests.link_digest(request.id)
        if (required or token is not None) and (token is None or token_digest(token) != digest):
            p.outcomes.refuse(
                actor,
                action,
                resource,
                Outcome.LINK_INVALID,
                f"the link does not belong to request {request.id}",
                ctx,
            )
        state = request.state_at(p.clock())
        if state in (RequestStatus.APPROVED, RequestStatus.DENIED):
            p.outcomes.refuse(
                actor,
                action,
                resource,
                Outcome.LINK_SPENT,
                f"request {request.id} was already {state.value}; a link works once",
                ctx,
            )
        if state is RequestStatus.EXPIRED:
            p.outcomes.refuse(
                actor,
                action,
                resource,
                Outcome.REQUEST_EXPIRED,
                f"request {request.id} lapsed unanswered at {latest_end(request.expires_at)}",
                ctx,
            )
        if state is RequestStatus.WITHDRAWN:
            p.outcomes.refuse(
                actor,
                action,
                resource,
                Outcome.REQUEST_WITHDRAWN,
                f"request {request.id} was withdrawn (its case or contract changed)",
                ctx,
            )

    # --- the worker and the registry's hook ----------------------------------------------

    def expire(self, actor: Actor) -> ExpiryReport:
        """The `grants.expire` job: lapse unanswered requests past their expiry, then end
        grants past their backstop, spent, or whose contract changed."""
        p = self._p
        now = p.clock()
        with p.uow() as uow:
            due = uow.access_requests.pending_due(now)
        lapsed = 0
        for r in due:
            ctx = AccessContext(case_id=r.case_id, note=f"request {r.id} lapsed")
            p.gate.decide(actor, Action.DELETE, grant_resource(r.id, r.customer_id), ctx)
            with p.uow() as uow:
                lapsed += uow.access_requests.answer(
                    r.id, RequestStatus.EXPIRED, now, actor.id, None
                )
                uow.commit()
        return ExpiryReport(lapsed, self._grants.sweep(actor))

    def contract_changed(self, actor: Actor, contract_id: str, change: str) -> None:
        """The registry's hook after a transfer or a cancellation: pending requests are
        withdrawn and the contract's grants end at once."""
        p = self._p
        reason = GrantEnd.TRANSFERRED if change == "transferred" else GrantEnd.CANCELLED
        now = p.clock()
        with p.uow() as uow:
            withdrawn = [
                r
                for r in uow.access_requests.pending_for_contract(contract_id)
                if uow.access_requests.answer(r.id, RequestStatus.WITHDRAWN, now, actor.id, None)
            ]
            grants = uow.grants.active_for_contract(contract_id)
            uow.commit()
        for r in withdrawn:
            p.outcomes.record(
                actor,
                Action.DELETE,
                grant_resource(r.id, r.customer_id),
                Outcome.REQUEST,
                f"request withdrawn: contract {change}",
                AccessContext(case_id=r.case_id),
            )
        self._grants.end_grants(actor, grants, reason)
