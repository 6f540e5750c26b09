"""The outbox (P9, P11): a notice the customer is owed, queued in the same transaction as the
change it reports, so a crash after the commit cannot lose it and a rolled-back change
never sends it.

A queued notice holds ids only (which customer, which grant or case), never an address or a
text: the worker renders it at delivery from the records as they are then, so the table
keeps no personal data in clear and no secret (a password link's token is minted at
delivery). Delivery retries with exponential backoff; after `max_attempts` the notice is
`failed` and shows in `entrusted outbox list` and the health figures until someone acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Topic(StrEnum):
    """What a notice says; each has one renderer (`services/outbox.py`)."""

    GRANTED = "consent.granted"
    USED = "consent.used"
    ENDED = "consent.ended"
    CLOSING_SUMMARY = "case.closing_summary"
    PASSWORD_LINK = "customer.password_link"  # noqa: S105 - ref: the customer id
    PASSWORD_LINK_REQUEST = "customer.password_link_request"  # noqa: S105 - ref: blind index
    EMAIL_CHANGE_LINK = "customer.email_change_link"  # ref: the customer id; to the new address
    EMAIL_CHANGE_NOTICE = "customer.email_change_notice"  # ref: the customer id; to the old one
    DISCLOSURE_NOTICE = "disclosure.notice"  # ref: `<disclosure id>/<customer id>` (P5)


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENT = "sent"  # the relay accepted it
    FAILED = "failed"  # gave up after max attempts; needs an operator
    VOID = "void"  # nothing to send any more (no such customer, grant gone)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    topic: Topic
    ref: str
    created_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    message_id: str | None = None

    @classmethod
    def new(cls, id_: str, topic: Topic, ref: str, now: datetime) -> OutboxMessage:
        return cls(id_, topic, ref, now, next_attempt_at=now)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt n+1 is `base * 2**(n-1)`, at most `cap`; `max_attempts` in all."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 8

    def after(self, attempts: int) -> timedelta:
        delay: timedelta = self.base * (2 ** max(0, attempts - 1))
        return min(self.cap, delay)

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
