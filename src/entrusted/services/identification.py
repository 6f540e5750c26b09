"""Caller identification (P1): support checks a caller against the details on file by a method
that leaves evidence, and the result is what later lets support act for them.

Methods: a one-time code sent to the e-mail address or the mobile number on file, which the
caller reads back to support; or the customer confirming from their logged-in session. Codes
are six random digits, stored only as an HMAC (`crypto.personal.code_digest`), valid for
`identification_code_ttl_s`, good for one successful use, and refused after
`identification_max_attempts` wrong tries. A wrong, expired or replayed code is a clear error
and changes nothing but the attempt counter. Every outcome, success or failure, is ledgered
with the method, the time and the staff member.

An identification may name the support case it is for; that case must exist, be open and be
the customer's (else 404, 409 or 422, ledgered as `registry.identification-case-refused`),
or the identification would count on another customer's case, or on none at all.

`CallerIdentified` is the gate's `caller_identified` condition: true when the customer who owns
the resource was identified by this staff member within `identification_valid_s` (and, if
the request names a case or the identification named a contract, on that case / contract).

```python
started = identification.start(support, "cus_1", "email_code")
identification.verify(support, started.id, "123456")  # what the caller reads back
```
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import structlog

from entrusted.crypto.personal import code_digest, code_matches, new_code, open_customer
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.policy import Action, Actor, ActorKind, Resource
from entrusted.domain.policy import ResourceKind as Kind
from entrusted.domain.registry import (
    Identification,
    IdentificationMethod,
    PersonalDetails,
    SealedCustomer,
)
from entrusted.domain.registry import IdentificationOutcome as Outcome
from entrusted.errors import (
    Conflict,
    EntrustedError,
    InvalidInput,
    NotFound,
    RateLimited,
    Unavailable,
)
from entrusted.services.gate import AccessContext
from entrusted.services.messaging import MailSender, SmsSender
from entrusted.services.outcomes import Outcome as Ledgered
from entrusted.services.ports import Clock, RegistryUnitOfWorkFactory
from entrusted.services.registry import RegistryParts, load_customer, personal
from entrusted.services.registry_lookup import CaseFinder

_METHODS = ", ".join(m.value for m in IdentificationMethod)
# The code's template, under templates/mail (subject, text, HTML) and templates/sms.
_CODE = "identification.code"
log = structlog.get_logger("entrusted.messages")


class IdentificationService:
    def __init__(
        self,
        parts: RegistryParts,
        mailer: MailSender,
        sms: SmsSender,
        code_ttl: timedelta = timedelta(minutes=10),
        max_attempts: int = 5,
        codes_per_hour: int = 5,
        *,
        cases: CaseFinder | None = None,
    ) -> None:
        self._p = parts
        self._cases = cases  # the consent store's cases; without it no case can be named
        self._mailer = mailer
        self._sms = sms
        self._ttl = code_ttl
        self._max = max_attempts
        # Codes go to the customer's own phone or inbox: without a bound, any agent (or a
        # script with an agent's token) could flood them (trial: 17 codes in 4 s).
        self._codes_per_hour = codes_per_hour

    def start(
        self,
        actor: Actor,
        customer_id: str,
        method: str,
        *,
        contract_id: str | None = None,
        case_id: str | None = None,
    ) -> Identification:
        """Begin identifying a caller as `customer_id`: send the code (or wait for the
        customer's session). Nothing is stored if the message cannot be sent."""
        try:
            how = IdentificationMethod(method)
        except ValueError:
            raise InvalidInput("method", f"must be one of {_METHODS}") from None
        p = self._p
        context = AccessContext(case_id=case_id)
        # The gate first: a caller it refuses learns nothing of the case (whether it exists,
        # whose it is, whether open); the case check's refusal is ledgered beside the allow.
        p.gate.decide(actor, Action.IDENTIFY, personal(customer_id), context)
        if case_id is not None:
            self._check_case(actor, customer_id, case_id, context)
        now = p.clock()
        ident = Identification(
            id=p.ids("idn"),
            customer_id=customer_id,
            method=how,
            created_at=now,
            expires_at=now + self._ttl,
            outcome=Outcome.PENDING,
            staff_id=actor.id,
            contract_id=contract_id,
            case_id=case_id,
        )
        keys = p.keys()
        with p.uow() as uow:
            sealed = load_customer(uow, customer_id)
            if contract_id is not None:
                held = uow.contracts.get(contract_id)
                if held is None or held.holder_id != customer_id:
                    raise InvalidInput("contract_id", "is not a contract of this customer")
            sent = [
                i.created_at
                for i in uow.identifications.for_customer(customer_id)
                if i.method is not IdentificationMethod.SESSION
                and i.created_at > now - timedelta(hours=1)
            ]
        code = None if how is IdentificationMethod.SESSION else new_code()
        if code is not None and len(sent) >= self._codes_per_hour:
            wait = max(1, math.ceil((min(sent) + timedelta(hours=1) - now).total_seconds()))
            p.outcomes.record(
                actor,
                Action.IDENTIFY,
                personal(customer_id),
                Ledgered.CODES_THROTTLED,
                f"{len(sent)} codes sent to this customer within an hour; none sent",
                context,
                allowed=False,
            )
            raise RateLimited("too many codes sent to this customer; try again later", wait)
        digest = None if code is None else code_digest(keys, ident.id, code)
        if code is not None:
            # Sent before the identification is stored, outside any transaction (a slow relay
            # holds no lock); if it cannot be sent, nothing is stored and the caller gets the
            # transport's error (503), never a 201 for a code that reached nobody.
            self._send_code(how, sealed, open_customer(keys, sealed), code, ident)
        with p.uow() as uow:
            uow.identifications.add(ident, digest)
            uow.commit()
        return ident

    def _check_case(
        self, actor: Actor, customer_id: str, case_id: str, context: AccessContext
    ) -> None:
        """The named case exists, is open and is the customer's; checked after the gate's
        allow, so a refusal here is ledgered beside that allow before anything is done."""
        if self._cases is None:
            raise Unavailable("support cases cannot be checked here; start without a case")
        case = self._cases(case_id)
        error: EntrustedError | None = None
        if case is None:
            error = NotFound("case", case_id)
        elif case.customer_id != customer_id:
            error = InvalidInput("case_id", f"{case_id} is not a case of this customer")
        elif not case.open:
            error = Conflict(f"case {case_id} is resolved; open a new one or reopen it")
        if error is None:
            return
        self._p.outcomes.record(
            actor,
            Action.IDENTIFY,
            personal(customer_id),
            Ledgered.IDENTIFICATION_CASE_REFUSED,
            f"identification refused: {error.message}",
            context,
            allowed=False,
        )
        raise error

    def _send_code(
        self,
        how: IdentificationMethod,
        customer: SealedCustomer,
        details: PersonalDetails,
        code: str,
        ident: Identification,
    ) -> None:
        """The code in the customer's language, and its end in their time zone: a caller
        who cannot read the message cannot read the code back either."""
        if how is IdentificationMethod.SMS_CODE and details.mobile is None:
            raise InvalidInput("method", "there is no mobile number on file")
        values = {
            "code": code,
            "minutes": int(self._ttl.total_seconds() // 60),
            "expires_at": ident.expires_at,
        }
        mails, lang, zone = self._p.templates(), customer.language, customer.time_zone
        try:
            if how is IdentificationMethod.EMAIL_CODE:
                written = mails.write(_CODE, values, lang, zone)
                self._mailer.send(
                    details.email,
                    written.subject,
                    written.text,
                    {"Auto-Submitted": "auto-generated"},
                    purpose=MailPurpose.SECURITY,
                    html=written.html,
                )
            elif details.mobile is not None:
                self._sms.send(details.mobile, mails.text(_CODE, values, lang, zone))
        except EntrustedError as exc:
            log.warning(
                "message.undeliverable", kind=f"{how.value} code", ref=ident.id, error=exc.message
            )
            raise
        log.info("message.sent", kind=f"{how.value} code", ref=ident.id)

    def verify(self, actor: Actor, identification_id: str, code: str) -> Identification:
        """Check the code the caller read back. Wrong or expired: InvalidInput("code"), the
        attempt counted; already used or failed: Conflict. Each outcome is ledgered."""
        p = self._p
        ident = self._get(identification_id)
        context = AccessContext(case_id=ident.case_id)
        resource = personal(ident.customer_id)
        if ident.staff_id != actor.id:
            # Checked before the gate (no "allow" entry for a refused step) and before the
            # attempt counter: another agent can neither borrow the caller's identification
            # nor use up its attempts (issue 11 item 4).
            p.outcomes.refuse(
                actor,
                Action.IDENTIFY,
                resource,
                Ledgered.NOT_THE_IDENTIFIER,
                f"identification {ident.id} was started by another staff member",
                context,
            )
        p.gate.decide(actor, Action.IDENTIFY, resource, context)
        if ident.method is IdentificationMethod.SESSION:
            conflict = Conflict(f"identification {ident.id} is confirmed by the customer's session")
            why = f"identification by code refused: {conflict}"
            p.outcomes.record(
                actor,
                Action.IDENTIFY,
                resource,
                Ledgered.IDENTIFICATION,
                why,
                context,
                allowed=False,
            )
            raise conflict
        keys = p.keys()
        with p.uow() as uow:
            digest = uow.identifications.code_digest(ident.id)
            current = uow.identifications.get(ident.id)
        assert current is not None
        now = p.clock()
        state = current.state_at(now)
        attempts = current.attempts + 1
        error: Exception | None = None
        outcome = current.outcome
        if state is Outcome.VERIFIED:
            error = Conflict(f"identification {ident.id} was already used; start a new one")
        elif state is Outcome.FAILED:
            error = Conflict(f"identification {ident.id} failed after too many wrong codes")
        elif state is Outcome.EXPIRED:
            error = InvalidInput("code", "has expired; start a new identification")
        elif digest is None or not code_matches(keys, ident.id, code, digest):
            left = self._max - attempts
            outcome = Outcome.FAILED if left <= 0 else Outcome.PENDING
            error = InvalidInput(
                "code",
                f"does not match; {left} attempt(s) left"
                if left > 0
                else "does not match; no attempts left, start a new identification",
            )
        else:
            outcome = Outcome.VERIFIED
        done = now if outcome is not current.outcome else current.completed_at
        updated = replace(current, attempts=attempts, outcome=outcome, completed_at=done)
        reason = (
            f"caller identified by {ident.method.value}"
            if error is None
            else f"identification by {ident.method.value} failed: {error}"
        )
        with p.uow() as uow:
            uow.identifications.update(updated)
            uow.commit()
        p.outcomes.record(
            actor,
            Action.IDENTIFY,
            resource,
            Ledgered.IDENTIFICATION,
            reason,
            context,
            allowed=error is None,
        )
        if error is not None:
            raise error
        return updated

    def confirm(self, actor: Actor, identification_id: str) -> Identification:
        """The customer confirms, from their logged-in session, that they are on the phone."""
        p = self._p
        ident = self._get(identification_id)
        resource = personal(ident.customer_id)
        context = AccessContext(case_id=ident.case_id)
        p.gate.decide(actor, Action.UPDATE, resource, context)
        state = ident.state_at(p.clock())
        conflict = None
        if ident.method is not IdentificationMethod.SESSION:
            conflict = Conflict(f"identification {ident.id} is confirmed with its one-time code")
        elif state is not Outcome.PENDING:
            conflict = Conflict(f"identification {ident.id} is {state.value}; start a new one")
        if conflict is not None:  # nothing changes, but the refused confirmation is ledgered
            why = f"confirmation from the customer's session refused: {conflict}"
            p.outcomes.record(
                actor,
                Action.IDENTIFY,
                resource,
                Ledgered.IDENTIFICATION,
                why,
                context,
                allowed=False,
            )
            raise conflict
        updated = replace(
            ident, attempts=ident.attempts + 1, outcome=Outcome.VERIFIED, completed_at=p.clock()
        )
        reason = "caller identified by confirmation from the customer's session"
        with p.uow() as uow:
            uow.identifications.update(updated)
            uow.commit()
        p.outcomes.record(
            actor, Action.IDENTIFY, resource, Ledgered.IDENTIFICATION, reason, context
        )
        return updated

    def _get(self, identification_id: str) -> Identification:
        with self._p.uow() as uow:
            found = uow.identifications.get(identification_id)
        if found is None:
            raise NotFound("identification", identification_id)
        return found


class CallerIdentified:
    """The gate's `caller_identified` resolver (see the module doc)."""

    def __init__(self, uow: RegistryUnitOfWorkFactory, clock: Clock, valid: timedelta) -> None:
        self._uow = uow
        self._clock = clock
        self._valid = valid

    def __call__(self, actor: Actor, resource: Resource, context: AccessContext) -> bool:
        if actor.kind is not ActorKind.STAFF or resource.owner is None:
            return False
        with self._uow() as uow:
            recent = uow.identifications.verified_since(resource.owner, self._clock() - self._valid)
        for ident in recent:
            if ident.staff_id != actor.id:
                continue
            if context.case_id is not None and ident.case_id != context.case_id:
                continue
            if resource.kind is Kind.CONTRACT and ident.contract_id not in (None, resource.id):
                continue
            return True
        return False
