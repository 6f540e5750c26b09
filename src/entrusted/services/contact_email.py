"""A new contact e-mail address takes effect only through a link sent to it (P1, P2; issue 11
item 9): the address on file is where identification codes, password links and consent
notices go, so whoever holds a stolen session must not be able to move it in one request.

A correction naming a new address stores it as pending (sealed under the customer's data
key, with its blind index) and queues two notices in the same transaction: first a notice to
the address in force ("your contact address is being changed to n***@example.net"), then the
link to the new address. The worker mints the link's token at delivery and stores only its
SHA-256, as for password links (services/customer_auth.py). Opening the link within
`email_change_ttl_s` applies the address and its blind index; the link works once, a newer
request replaces an older one, and an address another customer holds is a 409 that names
nobody. Each confirmation, and each refused link, is ledgered after the fact.

```python
emails.request(uow, sealed, "new@example.net")   # inside the correction's transaction
customer_id = emails.confirm(token)               # POST /v1/customers/email-confirmation
```
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import NoReturn

from entrusted.crypto.personal import (
    RegistryKeys,
    SealedPendingEmail,
    open_customer,
    open_pending_email,
    reseal,
    seal_pending_email,
)
from entrusted.crypto.secrets import token_digest
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import OutboxMessage, Topic
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.domain.registry import CustomerStatus, SealedCustomer
from entrusted.errors import Conflict
from entrusted.services.gate import Gate
from entrusted.services.link_guesses import GuessBudget
from entrusted.services.outbox import Letter, MailTemplates, Renderer, queue, required
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock, RegistryUnitOfWork, RegistryUnitOfWorkFactory
from entrusted.services.registry_lookup import mask_email

EMAIL_LINK_PREFIX = "ente_"  # a public prefix, not a secret
DUPLICATE_EMAIL = "a customer with this e-mail address is already registered"
_NOBODY = Actor(ActorKind.PUBLIC, "email-link")


def _personal(customer_id: str) -> Resource:
    return Resource(ResourceKind.PERSONAL_DETAILS, customer_id, owner=customer_id)


class ContactEmails:
    def __init__(
        self,
        uow: RegistryUnitOfWorkFactory,
        gate: Gate,
        keys: Callable[[], RegistryKeys],
        clock: Clock,
        portal_url: str = "http://127.0.0.1:8000/portal",
        ttl: timedelta = timedelta(hours=24),
        *,
        mails: MailTemplates | None = None,
    ) -> None:
        self._mails = mails
        self._uow = uow
        self._gate = gate
        self._keys = keys
        self._clock = clock
        self._portal = portal_url.rstrip("/")
        self._ttl = ttl
        self._guesses = GuessBudget()

    def request(self, uow: RegistryUnitOfWork, sealed: SealedCustomer, email: str) -> None:
        """Hold `email` (validated) as `sealed`'s pending address, in the caller's transaction.
        Whether another customer holds it is checked only when the link is opened: answering
        here would tell a customer whose address it is."""
        now = self._clock()
        pending = seal_pending_email(self._keys(), sealed, email, now, now + self._ttl)
        uow.customers.set_pending_email(pending)
        queue(uow.outbox, Topic.EMAIL_CHANGE_NOTICE, sealed.id, now)
        queue(uow.outbox, Topic.EMAIL_CHANGE_LINK, sealed.id, now)

    def pending(self, actor: Actor, customer_id: str) -> str | None:
        """The new address still waiting for its link (None: none, or expired), for the
        customer themselves: their details page says where the link went."""
        self._gate.decide(actor, Action.READ, _personal(customer_id))
        with self._uow() as uow:
            customer = uow.customers.get(customer_id)
            pending = uow.customers.pending_email(customer_id)
        if customer is None or pending is None or pending.expires_at <= self._clock():
            return None
        return open_pending_email(self._keys(), customer, pending)

    # --- delivery (the outbox worker) -----------------------------------------------------

    def renderers(self) -> dict[Topic, Renderer]:
        return {Topic.EMAIL_CHANGE_LINK: self._link, Topic.EMAIL_CHANGE_NOTICE: self._notice}

    def _pending(
        self, uow: RegistryUnitOfWork, message: OutboxMessage
    ) -> tuple[SealedCustomer, SealedPendingEmail] | None:
        """The request `message` was queued with; None once it was applied, replaced by a
        newer one, expired, or the customer is no longer active (the notice is then void)."""
        customer = uow.customers.get(message.ref)
        pending = uow.customers.pending_email(message.ref)
        if customer is None or pending is None or customer.status is not CustomerStatus.ACTIVE:
            return None
        if pending.requested_at > message.created_at or pending.expires_at <= self._clock():
            return None
        return customer, pending

    def _link(self, message: OutboxMessage) -> Letter | None:
        """The token sits in the URL fragment, which never reaches a server log."""
        with self._uow() as uow:
            found = self._pending(uow, message)
            if found is None:
                return None
            customer, pending = found
            secret = EMAIL_LINK_PREFIX + secrets.token_urlsafe(32)
            uow.customers.set_pending_email_token(customer.id, token_digest(secret))
            uow.commit()
        written = required(self._mails).write(
            Topic.EMAIL_CHANGE_LINK,
            {"expires_at": pending.expires_at, "link": f"{self._portal}/email#token={secret}"},
            customer.language,
            customer.time_zone,
        )
        to = open_pending_email(self._keys(), customer, pending)
        return written.to(to, MailPurpose.SECURITY)

    def _notice(self, message: OutboxMessage) -> Letter | None:
        with self._uow() as uow:
            found = self._pending(uow, message)
        if found is None:
            return None
        customer, pending = found
        keys = self._keys()
        new = mask_email(open_pending_email(keys, customer, pending))
        written = required(self._mails).write(
            Topic.EMAIL_CHANGE_NOTICE,
            {"new_address": new, "portal": self._portal},
            customer.language,
            customer.time_zone,
        )
        return written.to(open_customer(keys, customer).email, MailPurpose.SECURITY)

    # --- the link opened ------------------------------------------------------------------

    def confirm(self, token: str) -> str:
        """Apply the pending address the link is for; returns the customer id. Refused and
        ledgered: an unknown or used token, an expired one (which ends the request)."""
        digest = token_digest(token)
        with self._uow() as uow:
            pending = uow.customers.pending_email_by_token(digest)
            customer = None if pending is None else uow.customers.get(pending.customer_id)
        if pending is None or customer is None or customer.status is not CustomerStatus.ACTIVE:
            self._guesses.spend("e-mail")  # from nobody we know: within a budget
            self._refuse(_NOBODY, "unknown", Outcome.EMAIL_LINK_INVALID)
        actor = Actor(ActorKind.CUSTOMER, customer.id)
        if pending.expires_at <= self._clock():
            with self._uow() as uow:
                uow.customers.drop_pending_email(customer.id)
                uow.commit()
            self._refuse(actor, customer.id, Outcome.EMAIL_LINK_EXPIRED)
        self._gate.decide(actor, Action.UPDATE, _personal(customer.id))
        keys = self._keys()
        with self._uow() as uow:
            # Re-read in the writing unit: two openings of one link apply it once
            current = uow.customers.pending_email_by_token(digest)
            sealed = uow.customers.get(customer.id)
            if current is None or sealed is None:
                self._refuse(actor, customer.id, Outcome.EMAIL_LINK_INVALID)
            uow.customers.drop_pending_email(customer.id)
            other = uow.customers.by_email_index(current.email_idx)
            if other is not None and other.id != customer.id:
                uow.commit()  # the link is spent either way
                self._outcomes.record(
                    actor,
                    Action.UPDATE,
                    _personal(customer.id),
                    Outcome.EMAIL_TAKEN,
                    "the new address is another customer's",
                    allowed=False,
                )
                raise Conflict(DUPLICATE_EMAIL)
            email = open_pending_email(keys, sealed, current)
            details = replace(open_customer(keys, sealed), email=email)
            uow.customers.update(reseal(keys, sealed, details))
            uow.commit()
        self._outcomes.record(
            actor,
            Action.UPDATE,
            _personal(customer.id),
            Outcome.EMAIL_CHANGED,
            "new contact address confirmed through the link sent to it",
        )
        return customer.id

    @property
    def _outcomes(self) -> OutcomeRecorder:
        return OutcomeRecorder(self._gate)

    def _refuse(self, actor: Actor, customer_id: str, outcome: Outcome) -> NoReturn:
        reason = (
            "the e-mail confirmation link has expired; ask for the change again"
            if outcome is Outcome.EMAIL_LINK_EXPIRED
            else "invalid or already used e-mail confirmation link"
        )
        resource = (
            _personal(customer_id)
            if actor.kind is ActorKind.CUSTOMER
            else Resource(ResourceKind.PERSONAL_DETAILS, customer_id)
        )
        self._outcomes.refuse(actor, Action.UPDATE, resource, outcome, reason)
