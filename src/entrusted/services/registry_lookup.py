"""Support's look-ups of callers (P1, P2, P3): support cannot walk the customer file.

P1 says a customer's details serve to identify the holder, so a look-up (find by e-mail or
phone, a customer's summary), after the gate allowed the role to identify callers at all:

(by e-mail, phone, a hosted mailbox address or domain, or the hoster's customer number, each
through its keyed blind index; issue 17 added the last three)

1. is throttled per staff member (`LookupLimits.per_minute`): beyond it the refusal
   `registry.lookups-throttled` is ledgered and `RateLimited` raised (HTTP 429 with
   Retry-After); each `alert_per_hour` look-ups by one staff member within an hour ledger the
   alert `registry.lookup-volume-alert`, for whoever reviews the ledger;
2. names why: an open case of that customer or a helpdesk ticket reference, both ledgered
   with the decision; without one it is refused, `registry.lookup-needs-reason`. A search
   naming a case finds only the case's customer: when the e-mail or phone is not theirs, it
   is refused under the same rule and reason as a summary of another customer, whether the
   e-mail matched somebody else or nobody, so a case never serves to probe which addresses
   belong to customers (support learns only "not this case's customer", as from a summary).
   The case's customer is known only once the search ran, so that refusal follows the gate's
   allowed search entry (a role that may not search learns nothing, not even that);
3. shows only what identification needs (`CallerView`: initials, masked contact hints, the
   contract ids and the methods a code can go by) until the caller is identified; the name
   and the contracts with their services only once the gate allows reading the customer's
   contracts, which needs `caller_identified` (on the named case, when there is one). The
   gate is asked only once that condition holds: a masked answer is recorded by the
   look-up's own `identify` entry, and every full view by its `read` entry.

The throttle's window is kept in the database (table `support_lookup`, pruned after an hour),
so the API server, a second server process and every CLI command count the same look-ups.

```python
lookup.find(support, email="anna@example.com", context=AccessContext(ticket="HD-4711"))
lookup.summary(support, "cus_1", AccessContext(case_id="case_7"))   # full once identified
```
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from entrusted.crypto.blind_index import (
    customer_number_index,
    domain_index,
    email_index,
    phone_index,
)
from entrusted.crypto.personal import open_contract, open_customer
from entrusted.domain.cases import Case
from entrusted.domain.policy import Action, Actor, ActorKind, Condition, Resource, ResourceKind
from entrusted.domain.provisioning import clean_external_id
from entrusted.domain.registry import (
    CustomerSummary,
    IdentificationMethod,
    SealedCustomer,
    StoredContract,
)
from entrusted.errors import InvalidInput, NotFound, RateLimited, Refused, Unavailable
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import (
    Clock,
    ConsentUnitOfWorkFactory,
    RegistryUnitOfWorkFactory,
)
from entrusted.services.registry_forms import clean_ticket

if TYPE_CHECKING:  # the registry builds its look-up from its parts; only types needed here
    from entrusted.services.registry import RegistryParts

CaseFinder = Callable[[str], Case | None]
NumberFinder = Callable[[bytes], str | None]  # a customer number's index -> the customer
FINDERS = ("email", "phone", "mailbox", "domain", "customer_number")
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)


def cases_in(uow: ConsentUnitOfWorkFactory) -> CaseFinder:
    """The case a look-up names, read from the consent store (wired by the composition root)."""

    def find(case_id: str) -> Case | None:
        with uow() as tx:
            return tx.cases.get(case_id)

    return find


@dataclass(frozen=True, slots=True)
class LookupLimits:
    """Look-ups one staff member may make per minute, and how many within an hour raise an
    alert entry (settings `support_lookups_per_minute`, `support_lookup_alert_per_hour`)."""

    per_minute: int = 10
    alert_per_hour: int = 60


class LookupThrottle:
    """A sliding window of each staff member's look-ups, kept in the registry's store (table
    `support_lookup`), so every process and every CLI command counts the same look-ups."""

    def __init__(self, limits: LookupLimits, clock: Clock) -> None:
        self.limits = limits
        self._clock = clock

    def admit(self, uow: RegistryUnitOfWorkFactory, staff_id: str) -> tuple[int, int]:
        """Count one look-up: (0, look-ups in the last hour) when admitted, else (seconds to
        wait, look-ups in the last hour) without counting it. One writing unit that first
        holds off the member's other look-ups, so parallel ones never share a count."""
        now = self._clock()
        with uow() as tx:
            tx.lookups.hold(staff_id)
            tx.lookups.prune(staff_id, now - _HOUR)
            seen = tx.lookups.since(staff_id, now - _HOUR)
            last_minute = [t for t in seen if t > now - _MINUTE]
            if len(last_minute) >= self.limits.per_minute:
                tx.commit()  # the pruning only
                wait = (last_minute[-self.limits.per_minute] + _MINUTE - now).total_seconds()
                return max(1, math.ceil(wait)), len(seen)
            tx.lookups.add(staff_id, now)
            tx.commit()
        return 0, len(seen) + 1


@dataclass(frozen=True, slots=True)
class CallerView:
    """What support sees of a possible caller. Until the caller is identified: initials,
    masked hints of where a code would go, the contract ids and methods to start an
    identification with; `summary` (name and contracts with services) only afterwards."""

    id: str
    identified: bool
    initials: str
    email_hint: str
    mobile_hint: str | None
    contract_ids: tuple[str, ...]
    methods: tuple[IdentificationMethod, ...]
    summary: CustomerSummary | None


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(number: str) -> str:
    return number[:3] + "*" * max(0, len(number) - 5) + number[-2:]


class CallerLookup:
    """Find and summary for support (see the module doc); `RegistryService` delegates here."""

    def __init__(
        self,
        parts: RegistryParts,
        throttle: LookupThrottle,
        cases: CaseFinder | None,
        numbers: NumberFinder | None = None,
    ) -> None:
        self._p = parts
        self.throttle = throttle
        self._cases = cases
        self._numbers = numbers  # customer numbers, known where provisioning is wired

    def summary(self, actor: Actor, customer_id: str, context: AccessContext) -> CallerView:
        p = self._p
        context = _reason(context)
        resource = _personal(customer_id)
        # The look-up's own checks come first, so the ledger never holds an "allow" for a
        # look-up that was then refused for want of a reason or for its volume.
        context, _ = self._admit(actor, resource, context, customer_id)
        p.gate.decide(actor, Action.IDENTIFY, resource, context)
        with p.uow() as uow:
            sealed = uow.customers.get(customer_id)
            if sealed is None:
                raise NotFound("customer", customer_id)
            contracts = uow.contracts.for_holder(customer_id)
        return self._view(actor, sealed, contracts, context)

    def find(
        self,
        actor: Actor,
        email: str | None,
        phone: str | None,
        context: AccessContext,
        by: Mapping[str, str | None] | None = None,
    ) -> list[CallerView]:
        """By exactly one of e-mail, phone, or (in `by`) `mailbox`, `domain` or
        `customer_number`: each a keyed blind index, so nothing is decrypted to search."""
        p = self._p
        given = {"email": email, "phone": phone, **(by or {})}
        named = [(how, value) for how, value in given.items() if value is not None]
        if len(named) != 1 or named[0][0] not in FINDERS:
            raise InvalidInput(
                "email", "give one of an e-mail address, a phone number, a mailbox address, "
                "a domain or a customer number",
            )  # fmt: skip
        how, value = named[0]
        idx = self._index(how, value)
        lookup = Resource(ResourceKind.PERSONAL_DETAILS, f"lookup:{how}")
        context = _reason(context)
        context, case_customer = self._admit(actor, lookup, context, None)
        p.gate.decide(actor, Action.IDENTIFY, lookup, context)
        holder = self._numbers(idx) if how == "customer_number" and self._numbers else None
        with p.uow() as uow:
            if how == "email":
                one = uow.customers.by_email_index(idx)
            elif how in ("mailbox", "domain"):
                hosting = uow.contracts.by_mailbox_index(idx)
                one = None if hosting is None else uow.customers.get(hosting.holder_id)
            elif how == "customer_number":
                one = None if holder is None else uow.customers.get(holder)
            if how == "phone":
                found = uow.customers.by_phone_index(idx)
            else:
                found = [] if one is None else [one]
            if case_customer is not None:
                found = [c for c in found if c.id == case_customer]
            held = {c.id: uow.contracts.for_holder(c.id) for c in found}
        if case_customer is not None and not found:
            # Matched somebody else or nobody: one refusal, as a summary would give (module doc).
            p.outcomes.refuse(
                actor,
                Action.IDENTIFY,
                lookup,
                Outcome.LOOKUP_NEEDS_REASON,
                f"{context.case_id} is not an open case of this customer",
                context,
            )
        out = []
        for sealed in found:
            p.gate.decide(actor, Action.IDENTIFY, _personal(sealed.id), context)
            out.append(self._view(actor, sealed, held[sealed.id], context))
        return out

    def _index(self, how: str, value: str) -> bytes:
        p, key = self._p, self._p.keys().index_key
        if how == "email":
            return email_index(key, p.contacts.email(value, "email"))
        if how == "phone":
            return phone_index(key, p.contacts.phone(value, "phone", False))
        if how == "mailbox":
            return email_index(key, p.contacts.email(value, "mailbox"))
        if how == "domain":
            return domain_index(key, value)
        if self._numbers is None:
            raise Unavailable("customer numbers cannot be looked up here")
        return customer_number_index(key, clean_external_id(value, "customer_number"))

    def admit(
        self, actor: Actor, action: Action, resource: Resource, context: AccessContext
    ) -> tuple[AccessContext, str | None]:
        """The same throttle (one budget with find and summary) and reason check for another
        look-up support makes, such as an FTP space's sizes: the checked context (its note
        kept) and the customer of the named case, whom the caller must then hold to it."""
        checked = replace(_reason(context), note=context.note)
        return self._admit(actor, resource, checked, None, action)

    def _admit(
        self,
        actor: Actor,
        resource: Resource,
        context: AccessContext,
        customer_id: str | None,
        action: Action = Action.IDENTIFY,
    ) -> tuple[AccessContext, str | None]:
        """Throttle, then check the look-up's reason; both refusals are ledgered. Returns the
        context and the customer of the named case (None for a ticket-only look-up)."""
        outcomes = self._p.outcomes
        wait, in_hour = self.throttle.admit(self._p.uow, actor.id)
        if wait:
            outcomes.record(
                actor,
                action,
                resource,
                Outcome.LOOKUPS_THROTTLED,
                f"more than {self.throttle.limits.per_minute} look-ups in a minute",
                context,
                allowed=False,
            )
            raise RateLimited("too many customer look-ups; wait before the next", wait)
        if in_hour % self.throttle.limits.alert_per_hour == 0:
            outcomes.record(
                actor,
                action,
                resource,
                Outcome.LOOKUP_VOLUME_ALERT,
                f"{in_hour} customer look-ups within an hour by one staff member",
                context,
            )
        if context.case_id is None and context.ticket is None:
            outcomes.refuse(
                actor,
                action,
                resource,
                Outcome.LOOKUP_NEEDS_REASON,
                "a look-up needs an open case or a helpdesk ticket reference",
                context,
            )
        if context.case_id is not None:
            if self._cases is None:
                raise Unavailable("support cases cannot be checked here; name a ticket")
            case = self._cases(context.case_id)
            if case is None or not case.open or customer_id not in (None, case.customer_id):
                outcomes.refuse(
                    actor,
                    action,
                    resource,
                    Outcome.LOOKUP_NEEDS_REASON,
                    f"{context.case_id} is not an open case of this customer",
                    context,
                )
            return context, case.customer_id
        return context, None

    def _view(
        self,
        actor: Actor,
        sealed: SealedCustomer,
        contracts: list[StoredContract],
        context: AccessContext,
    ) -> CallerView:
        keys = self._p.keys()
        details = open_customer(keys, sealed)
        methods = tuple(
            m
            for m in IdentificationMethod
            if m is not IdentificationMethod.SMS_CODE or details.mobile is not None
        )
        full = None
        if self._identified(actor, sealed.id, context):
            views = tuple(open_contract(keys, sealed, c) for c in contracts)
            full = CustomerSummary(sealed.id, details.last_name, details.first_name, views)
        return CallerView(
            id=sealed.id,
            identified=full is not None,
            initials=f"{details.first_name[:1]}. {details.last_name[:1]}.",
            email_hint=mask_email(details.email),
            mobile_hint=None if details.mobile is None else mask_phone(details.mobile),
            contract_ids=tuple(c.id for c in contracts),
            methods=methods,
            summary=full,
        )

    def _identified(self, actor: Actor, customer_id: str, context: AccessContext) -> bool:
        """Whether the gate lets `actor` read the customer's contracts (for staff, only under
        `caller_identified`). The gate is asked only once the condition holds, so a masked
        answer is no refusal in the ledger (the look-up's `identify` entry records it) and
        every full view has its ledgered `read`. Rules that still refuse mean masked."""
        if actor.kind is not ActorKind.STAFF:
            return False
        scope = Resource(ResourceKind.CONTRACT, f"of/{customer_id}", owner=customer_id)
        identified = self._p.gate.resolvers.get(Condition.CALLER_IDENTIFIED)
        if identified is None or not identified(actor, scope, context):
            return False
        try:
            self._p.gate.decide(actor, Action.READ, scope, context)
        except Refused:
            return False
        return True


def _reason(context: AccessContext) -> AccessContext:
    """The look-up's case and checked ticket, before anything reaches the ledger: a caller's
    address typed into the ticket field must not be written there."""
    return AccessContext(case_id=context.case_id, ticket=clean_ticket(context.ticket))


def _personal(customer_id: str) -> Resource:
    return Resource(ResourceKind.PERSONAL_DETAILS, customer_id, owner=customer_id)
