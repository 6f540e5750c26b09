"""The outbox as the composition root wires it: one service delivering every area's queued
letters (consent notices, password links, contact e-mail changes, disclosure notices), with
the retry back-off and retention the operator chose."""

from __future__ import annotations

from datetime import timedelta

from entrusted.bootstrap.consent import Consent
from entrusted.bootstrap.disclosures import Desk
from entrusted.bootstrap.registry import Registry
from entrusted.bootstrap.wiring import Wiring
from entrusted.domain.outbox import Backoff
from entrusted.services.messaging import MailSender
from entrusted.services.outbox import OutboxService


def build_outbox(
    w: Wiring, mailer: MailSender, registry: Registry, consent: Consent, desk: Desk
) -> OutboxService:
    settings = w.settings
    return OutboxService(
        w.registry_uow,
        mailer,
        w.clock,
        {
            **consent.notices.renderers(w.consent_uow),
            **registry.customer_auth.renderers(),
            **registry.contact_emails.renderers(),
            **desk.disclosures.renderers(),
        },
        Backoff(
            base=timedelta(seconds=settings.outbox_retry_s),
            max_attempts=settings.outbox_max_attempts,
        ),
        retention=timedelta(seconds=settings.outbox_retention_s),
    )
