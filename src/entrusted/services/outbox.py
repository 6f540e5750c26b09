"""Delivering the outbox (domain/outbox.py): the worker's `outbox.deliver` job, the queue
helper services call inside their own transaction, and what operators see.

A queued notice names a topic and an id; a renderer per topic turns it into a `Letter` at
delivery, from the records as they are then (None: nothing to send any more, the notice is
`void`). Sending happens outside any transaction, so a slow relay never holds a database
lock; a crash between the relay's acceptance and the status update sends that notice again
(at least once, never silently lost). A failed attempt is retried after `Backoff.after`,
and after `Backoff.max_attempts` the notice is `failed`, logged, and counted by the health
route until an operator acts (`entrusted outbox list --status failed`). Each pass also deletes
notices sent or void longer ago than `retention` (setting `outbox_retention_s`): a row keyed by
the blind index of an address that is no customer's (a password link asked for a stranger's
address) must not stay for good; failed and pending notices stay.

```python
queue(uow.outbox, Topic.ENDED, grant.id, now)    # inside the change's own transaction
report = outbox.deliver()                         # the worker job, every outbox_interval_s
```
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import Backoff, OutboxMessage, OutboxStatus, Topic
from entrusted.errors import EntrustedError, InvalidInput, Unavailable
from entrusted.services.messaging import MailSender
from entrusted.services.ports import Clock, OutboxRepository, RegistryUnitOfWorkFactory

log = structlog.get_logger("entrusted.outbox")

_HEADERS: Mapping[str, str] = {"Auto-Submitted": "auto-generated"}
MAX_LIST = 500
_BATCH = 100
# The password-link throttle counts an address's requests of the last hour from these rows
MIN_RETENTION = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Letter:
    """A rendered notice: one e-mail to one address (plain text, and an HTML alternative
    when `html` is set), and why it is sent (a transactional purpose: never a mailing)."""

    to: str
    subject: str
    body: str
    purpose: MailPurpose
    html: str | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """A mail's words in the reader's language: subject, plain text and the HTML part."""

    subject: str
    text: str
    html: str

    def to(self, address: str, purpose: MailPurpose) -> Letter:
        return Letter(address, self.subject, self.text, purpose, self.html)


class MailTemplates(Protocol):
    """Writes a customer mail from its template (`adapters.mail_templates`), in the
    customer's language, with times in their time zone (None: the configured defaults).
    Services hand it values (datetimes, names, links), never formatted text, so the words,
    the date format and the zone all follow the reader."""

    def write(
        self,
        name: str,
        values: Mapping[str, object],
        language: str | None = None,
        time_zone: str | None = None,
    ) -> Written: ...

    def text(
        self,
        name: str,
        values: Mapping[str, object],
        language: str | None = None,
        time_zone: str | None = None,
    ) -> str:
        """A short text from template `name.txt` alone, no subject (a text message)."""
        ...


Renderer = Callable[[OutboxMessage], Letter | None]
NO_TEMPLATES = "no mail templates are configured"


def required(mails: MailTemplates | None) -> MailTemplates:
    """`mails`, or Unavailable: a notice is retried later rather than sent unwritten."""
    if mails is None:
        raise Unavailable(NO_TEMPLATES)
    return mails


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    void: int = 0
    pruned: int = 0

    def __str__(self) -> str:
        return (
            f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed, "
            f"{self.void} void, {self.pruned} pruned"
        )


def queue(outbox: OutboxRepository, topic: Topic, ref: str, now: datetime) -> OutboxMessage:
    """Add a notice to the caller's transaction (`now`: the change's time)."""
    # Ids sort in the order notices were queued, so "granted" goes out before "ended" even
    # when both are due at once.
    message = OutboxMessage.new(f"obx_{time.time_ns():016x}{secrets.token_hex(4)}", topic, ref, now)
    outbox.add(message)
    return message


class OutboxService:
    def __init__(
        self,
        uow: RegistryUnitOfWorkFactory,
        mailer: MailSender,
        clock: Clock,
        renderers: Mapping[Topic, Renderer],
        backoff: Backoff | None = None,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        if retention < MIN_RETENTION:
            raise InvalidInput("outbox_retention_s", "must be at least one hour")
        self._retention = retention
        self._uow = uow
        self._mailer = mailer
        self._clock = clock
        self._renderers = renderers
        self._backoff = backoff or Backoff()

    def deliver(self, limit: int = _BATCH) -> DeliveryReport:
        """One pass over the notices that are due, then the pruning of old delivered ones."""
        with self._uow() as uow:
            due = uow.outbox.due(self._clock(), limit)
        counts = dict.fromkeys(OutboxStatus, 0)
        retrying = 0
        for message in due:
            after = self._attempt(message)
            counts[after.status] += 1
            retrying += after.status is OutboxStatus.PENDING
        return DeliveryReport(
            counts[OutboxStatus.SENT],
            retrying,
            counts[OutboxStatus.FAILED],
            counts[OutboxStatus.VOID],
            self.prune(),
        )

    def prune(self) -> int:
        """Delete notices sent or void before the retention period; how many went."""
        with self._uow() as uow:
            pruned = uow.outbox.prune(self._clock() - self._retention)
            uow.commit()
        if pruned:
            log.info("outbox.pruned", count=pruned)
        return pruned

    def _attempt(self, message: OutboxMessage) -> OutboxMessage:
        attempts = message.attempts + 1
        try:
            letter = self._render(message)
            if letter is None:
                after = replace(message, status=OutboxStatus.VOID, attempts=attempts)
            else:
                sent_id = self._mailer.send(
                    letter.to,
                    letter.subject,
                    letter.body,
                    dict(_HEADERS),
                    purpose=letter.purpose,
                    html=letter.html,
                )
                after = replace(
                    message,
                    status=OutboxStatus.SENT,
                    attempts=attempts,
                    sent_at=self._clock(),
                    message_id=sent_id,
                    last_error=None,
                )
        except EntrustedError as exc:
            after = self._failed(message, attempts, exc.message)
        with self._uow() as uow:
            uow.outbox.update(after)
            uow.commit()
        log.info(
            "outbox.attempt",
            outbox_id=message.id,
            topic=message.topic.value,
            status=after.status.value,
            attempts=attempts,
            error=after.last_error,
        )
        return after

    def _render(self, message: OutboxMessage) -> Letter | None:
        renderer = self._renderers.get(message.topic)
        if renderer is None:
            raise InvalidInput("topic", f"no renderer for {message.topic.value}")
        return renderer(message)

    def _failed(self, message: OutboxMessage, attempts: int, error: str) -> OutboxMessage:
        if self._backoff.gives_up(attempts):
            log.error("outbox.failed", outbox_id=message.id, topic=message.topic.value)
            return replace(
                message,
                status=OutboxStatus.FAILED,
                attempts=attempts,
                next_attempt_at=None,
                last_error=error[:300],
            )
        return replace(
            message,
            attempts=attempts,
            next_attempt_at=self._clock() + self._backoff.after(attempts),
            last_error=error[:300],
        )

    def list(self, status: OutboxStatus | None = None, limit: int = 50) -> list[OutboxMessage]:
        """The newest notices (of one status), for `entrusted outbox list`."""
        with self._uow() as uow:
            return uow.outbox.find(status, max(1, min(limit, MAX_LIST)))

    def counts(self) -> dict[OutboxStatus, int]:
        """Notices by status, for the health route."""
        with self._uow() as uow:
            return uow.outbox.counts()
