"""The mailings area as the composition root wires it: the gate's two mailing conditions,
composing and sending, the announcement of a published policy document, and the worker job
that sends those announcements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog

from entrusted.adapters.db.mailing_store import SqlCustomerAudience, SqlMailingStore
from entrusted.bootstrap.actors import WORKER
from entrusted.crypto.personal import RegistryKeys
from entrusted.domain.mailings import MailingStatus
from entrusted.domain.policy import Condition
from entrusted.errors import InvalidInput
from entrusted.services.events import EventBus, PolicyDocumentPublished
from entrusted.services.gate import ConditionResolver
from entrusted.services.mailing_send import MailingSender
from entrusted.services.mailings import AllowedMailingPurpose, MailingService, OwnCustomers

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

log = structlog.get_logger("entrusted.mailings")

MAILINGS_SEND_JOB = "mailings.send"
UNSUBSCRIBE_PATH = "/v1/mailings/unsubscribe"


@dataclass(frozen=True, slots=True)
class Mailings:
    compose: MailingService
    sender: MailingSender


def mailing_conditions(engine: sa.Engine) -> dict[Condition, ConditionResolver]:
    """The resolvers of `allowed_mailing_purpose` and `own_customer` for the gate."""
    return {
        Condition.ALLOWED_MAILING_PURPOSE: AllowedMailingPurpose(),
        Condition.OWN_CUSTOMER: OwnCustomers(
            SqlCustomerAudience(engine), SqlMailingStore(engine)
        ),
    }


def build_mailings(
    c: Container, keys: Callable[[], RegistryKeys], events: EventBus
) -> Mailings:
    s = c.settings
    store = SqlMailingStore(c.engine)
    audience = SqlCustomerAudience(c.engine)
    compose = MailingService(c.gate, store, audience, c.clock, s.smtp_sender)
    sender = MailingSender(
        c.gate,
        store,
        audience,
        keys,
        c.mailer,
        c.clock,
        s.smtp_sender,
        s.public_url.rstrip("/") + UNSUBSCRIBE_PATH,
    )

    def announce(event: PolicyDocumentPublished) -> None:
        # Composed now, in the publishing request; sent by the worker's job, so publishing
        # never waits for a relay and a slow relay never fails the publication.
        try:
            compose.announce_terms(WORKER, event)
        except InvalidInput as exc:
            if exc.field != "recipients":
                raise
            log.info("mailings.no-customers-to-announce-to", version=event.version_id)

    events.subscribe(PolicyDocumentPublished, announce)
    return Mailings(compose, sender)


def send_announcements(m: Mailings, store: SqlMailingStore) -> str | None:
    """The worker's job: send (or resume) the announcements the worker composed."""
    sent = []
    for mailing in store.recent(50):
        if mailing.created_by == WORKER.id and mailing.status is not MailingStatus.DONE:
            report = m.sender.send(WORKER, mailing.id)
            sent.append(f"{mailing.id}: {report.progress.sent}/{report.progress.total} sent")
    return "; ".join(sent) or None  # nothing to send: a routine tick, logged at DEBUG
