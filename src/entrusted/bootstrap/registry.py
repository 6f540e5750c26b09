"""The customer registry as the composition root wires it: the registry's parts, the customer
portal's log-in, contact e-mail changes, the grant steps, support's look-ups (one budget for
customer look-ups and FTP space sizes alike), the registry service and identification."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from entrusted.adapters.contacts import Contacts
from entrusted.adapters.db.grant_step_store import SqlGrantStepStore
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.bootstrap.provisioning import customer_numbers
from entrusted.bootstrap.wiring import Wiring
from entrusted.crypto.personal import RegistryKeys
from entrusted.services.contact_email import ContactEmails
from entrusted.services.customer_auth import CustomerAuthService
from entrusted.services.disclosure_holdback import CustomerFacingLog, HeldBack
from entrusted.services.gate import Gate
from entrusted.services.grant_steps import GrantSteps
from entrusted.services.identification import IdentificationService
from entrusted.services.messaging import MailSender, SmsSender
from entrusted.services.outbox import MailTemplates
from entrusted.services.registry import RegistryParts, RegistryService
from entrusted.services.registry_lookup import CallerLookup, LookupLimits, LookupThrottle, cases_in
from entrusted.services.staff import LoginLimits


@dataclass(frozen=True, slots=True)
class Registry:
    parts: RegistryParts
    customer_auth: CustomerAuthService
    contact_emails: ContactEmails
    grant_steps: GrantSteps
    lookup: CallerLookup
    registry: RegistryService
    identification: IdentificationService


def build_registry(
    w: Wiring,
    gate: Gate,
    keys: Callable[[], RegistryKeys],
    limits: LoginLimits,
    mailer: MailSender,
    sms: SmsSender,
    store: SqlLedgerStore,
    held_back: HeldBack,
    mails: MailTemplates,
) -> Registry:
    """`held_back`: what a deferred disclosure keeps out of the customer's own view of the
    ledger (P5)."""
    settings, clock = w.settings, w.clock
    contacts = Contacts()
    parts = RegistryParts(
        w.registry_uow, gate, keys, contacts, clock, readers=w.reader, mails=mails
    )
    customer_auth = CustomerAuthService(
        w.registry_uow,
        clock,
        keys,
        contacts,
        settings.portal_url,
        timedelta(seconds=settings.password_link_ttl_s),
        limits,
        readers=w.reader,
        link_limit=settings.password_link_max_per_hour,
        mails=mails,
    )
    contact_emails = ContactEmails(
        w.registry_uow,
        gate,
        keys,
        clock,
        settings.portal_url,
        timedelta(seconds=settings.email_change_ttl_s),
        mails=mails,
    )
    lookup = CallerLookup(
        parts,
        LookupThrottle(
            LookupLimits(
                settings.support_lookups_per_minute, settings.support_lookup_alert_per_hour
            ),
            clock,
        ),
        cases_in(w.consent_uow),
        customer_numbers(w.engine),  # issue 17: support finds a caller by the hoster's number
    )
    return Registry(
        parts=parts,
        customer_auth=customer_auth,
        contact_emails=contact_emails,
        grant_steps=GrantSteps(parts, SqlGrantStepStore(w.engine)),
        lookup=lookup,
        registry=RegistryService(
            parts, customer_auth, CustomerFacingLog(store, held_back), lookup, contact_emails
        ),
        identification=IdentificationService(
            parts,
            mailer,
            sms,
            timedelta(seconds=settings.identification_code_ttl_s),
            settings.identification_max_attempts,
            settings.identification_codes_per_hour,
            cases=cases_in(w.consent_uow),
        ),
    )
