"""Verbal consent (P9: "at least verbally, once they have been clearly identified").

An agent records it only on an open, unflagged case whose caller they identified themselves,
for this case, within `identification_valid_s` (the rules' `caller_identified`, resolved by
the registry's identification). The record names the agent, the identification used, the
scope read back to the caller (generated from the scope itself, naming the hosted service by
id) and the time, and it creates the grant. The customer at once gets an e-mail receipt with
a one-click "this was not me": it ends the grant, flags the case (no more verbal consent on
it: ask by link) and is ledgered as the customer's own act. If the receipt cannot be sent,
nothing is granted.

```python
identification.start(support, "cus_1", "sms_code", case_id="case_1")   # then verify
consent, grant = verbal.record(support, "case_1", "svc_ftp", read_back=True)
verbal.not_me(token_from_the_receipt)                                   # the customer
```
"""

from __future__ import annotations

from dataclasses import replace

from entrusted.crypto.secrets import token_digest
from entrusted.domain.cases import (
    Grant,
    GrantEnd,
    GrantOrigin,
    VerbalConsent,
    check_sessions,
    latest_end,
    scope_text,
)
from entrusted.domain.ids import INVALID_ID
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.domain.registry import Identification
from entrusted.errors import (
    AuthenticationFailed,
    Conflict,
    EntrustedError,
    InvalidInput,
    Unavailable,
)
from entrusted.services.consent_parts import (
    NOT_ME_TOKEN_PREFIX,
    ConsentParts,
    consentable_service,
    load_case,
    new_secret,
)
from entrusted.services.consent_views import GrantView, describe_grant
from entrusted.services.gate import AccessContext
from entrusted.services.grants import GrantService, grant_resource
from entrusted.services.link_guesses import GuessBudget
from entrusted.services.outcomes import Outcome

_NOT_ME_LINK = Actor(ActorKind.PUBLIC, "not-me-link")  # who opened a link we cannot place


class VerbalConsentService:
    def __init__(self, parts: ConsentParts, grants: GrantService) -> None:
        self._p = parts
        self._guesses = GuessBudget()
        self._grants = grants

    def record(
        self,
        actor: Actor,
        case_id: str,
        service_id: str,
        *,
        read_back: bool,
        read_only: bool = False,
        sessions: int = 1,
    ) -> tuple[VerbalConsent, Grant]:
        """Record the identified caller's verbal consent to the scope the agent read back."""
        p = self._p
        if not read_back:
            raise InvalidInput("read_back", "read the scope back to the caller first")
        check_sessions(sessions, p.limits.max_sessions)
        with p.uow() as uow:
            case = load_case(uow, case_id)
        grant_id = p.ids("gnt")
        resource = grant_resource(grant_id, case.customer_id)
        ctx = AccessContext(case_id=case.id, grant_id=grant_id, note="verbal consent")
        p.gate.decide(actor, Action.CREATE, resource, ctx)  # caller_identified, by this agent
        if case.flagged_at is not None:
            p.outcomes.refuse(
                actor,
                Action.CREATE,
                resource,
                Outcome.CASE_FLAGGED,
                f"case {case.id} is flagged: a consent on it was disowned; ask by link",
                ctx,
            )
        service = consentable_service(p, actor, Action.CREATE, resource, ctx, case, service_id)
        ident = self._identification(actor, case.customer_id, case.id)
        if ident is None:
            p.outcomes.refuse(
                actor,
                Action.CREATE,
                resource,
                Outcome.IDENTIFICATION_STALE,
                "no identification of this caller by you on this case is recent enough",
                ctx,
            )
        with p.uow() as uow:
            used = any(c.identification_id == ident.id for c in uow.consents.for_case(case.id))
        if used:
            # One identification, one consent (P11: one-off): a second consent needs the
            # caller identified again. The store's unique index settles a race.
            p.outcomes.refuse(
                actor,
                Action.CREATE,
                resource,
                Outcome.IDENTIFICATION_USED,
                f"identification {ident.id} already gave a verbal consent; identify the "
                "caller again for another one",
                ctx,
            )
        now = p.clock()
        consent_id = p.ids("vcn")
        grant = Grant(
            grant_id,
            case.id,
            case.customer_id,
            case.contract_id,
            service.id,
            service.kind,
            actor.id,
            read_only,
            sessions,
            GrantOrigin.VERBAL,
            consent_id,
            case.customer_id,
            now,
            now + p.limits.grant_max_duration,
            policy_version=p.policy_version(now),
        )
        until = latest_end(grant.expires_at)
        stored = scope_text(service.kind, service.id, read_only, sessions, case.id, until)
        consent = VerbalConsent(
            consent_id,
            case.id,
            case.customer_id,
            actor.id,
            ident.id,
            ident.method.value,
            stored,
            now,
            grant.id,
        )
        secret, digest = new_secret(NOT_ME_TOKEN_PREFIX)
        # The receipt must reach the customer before the grant exists (P9): the relay
        # accepts it first, outside any transaction, and only then is the grant stored.
        try:
            p.notices.receipt(grant, ident.method.value, secret)
        except EntrustedError as exc:
            reason = f"the receipt could not be sent ({exc.message}); nothing was granted"
            undeliverable = Outcome.RECEIPT_UNDELIVERABLE
            p.outcomes.record(
                actor, Action.CREATE, resource, undeliverable, reason, ctx, allowed=False
            )
            raise Unavailable(reason) if isinstance(exc, Unavailable) else exc from None
        with p.uow() as uow:
            uow.grants.add(grant)
            uow.consents.add(consent, digest)
            uow.commit()
        # "granted" reports the committed grant: ledgered only now (the CREATE decision before
        # the write is what fails closed), as for a grant approved by link.
        reason = f"{actor.id} recorded verbal consent {consent.id} ({ident.method.value})"
        p.outcomes.record(actor, Action.CREATE, resource, Outcome.GRANTED, reason, ctx)
        return consent, grant

    def _identification(
        self, actor: Actor, customer_id: str, case_id: str
    ) -> Identification | None:
        """The latest identification that makes `caller_identified` hold for this request."""
        p = self._p
        valid = p.limits.identification_valid
        with p.registry.uow() as uow:
            recent = uow.identifications.verified_since(customer_id, p.clock() - valid)
        mine = [i for i in recent if i.staff_id == actor.id and i.case_id == case_id]
        return mine[-1] if mine else None

    def not_me_view(self, token: str) -> GrantView:
        """`not_me`, in the words the receipt used (the portal's result page: the link went
        to the address on file, so its holder reads what the receipt told them)."""
        return describe_grant(self._p, self.not_me(token))

    def not_me(self, token: str) -> Grant:
        """The one-click "this was not me" from a receipt: end the grant, flag the case."""
        p = self._p
        with p.uow() as uow:
            consent = uow.consents.by_not_me_digest(token_digest(token))
        if consent is None:
            # Still 401, but in the log like every refusal, within the budget for guesses
            # (`link_guesses`): a link that names no consent has no customer to file it
            # under, and its text is never ledgered (it is a secret).
            self._guesses.spend("not-me")
            p.outcomes.record(
                _NOT_ME_LINK, Action.DELETE, Resource(ResourceKind.GRANT, INVALID_ID),
                Outcome.LINK_INVALID, "a not-me link that names no verbal consent", allowed=False,
            )  # fmt: skip
            raise AuthenticationFailed("invalid link")
        customer = Actor(ActorKind.CUSTOMER, consent.customer_id)
        resource = grant_resource(consent.grant_id, consent.customer_id)
        ctx = AccessContext(case_id=consent.case_id, grant_id=consent.grant_id, note="not me")
        p.gate.decide(customer, Action.DELETE, resource, ctx)
        now = p.clock()
        with p.uow() as uow:
            first = uow.consents.mark_not_me(consent.id, now)
            case = load_case(uow, consent.case_id)
            if first and case.flagged_at is None:
                reason = f"the customer disowned verbal consent {consent.id}"
                uow.cases.update(replace(case, flagged_at=now, flag_reason=reason))
            grant = uow.grants.get(consent.grant_id)
            uow.commit()
        if not first:
            raise Conflict("this consent was already reported as not yours")
        assert grant is not None
        ended = self._grants.end_grants(customer, [grant], GrantEnd.NOT_ME)
        return ended[0] if ended else grant
