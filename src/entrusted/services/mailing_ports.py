"""The ports the mailings area needs (P6, P7): where mailings and their deliveries are kept,
and who is a customer. Apart from `services/ports.py` because that module is at the size
STYLE asks modules to stay under; the SQL adapter is `adapters/db/mailing_store.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from entrusted.domain.mailings import Delivery, DeliveryStatus, Mailing, MailingStatus, Progress
from entrusted.domain.registry import SealedCustomer


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one claimed delivery came to in a run (`status` PENDING: try again later)."""

    seq: int
    status: DeliveryStatus
    message_id: str | None = None
    error: str | None = None


class MailingStore(Protocol):
    def create(self, mailing: Mailing, recipients: Sequence[str]) -> None:
        """Store the mailing and one pending delivery per recipient, in one transaction."""
        ...

    def get(self, mailing_id: str) -> Mailing | None: ...

    def recent(self, limit: int) -> list[Mailing]: ...

    def recipients(self, mailing_id: str) -> list[str]: ...

    def set_status(self, mailing_id: str, status: MailingStatus) -> None: ...

    def claim(self, mailing_id: str, run_id: str, after: int, limit: int) -> list[Delivery]:
        """Mark up to `limit` pending deliveries with `seq > after` as being sent by
        `run_id` (atomically: two runs never claim the same row) and return them."""
        ...

    def release(self, mailing_id: str, run_id: str, seqs: Sequence[int]) -> None:
        """Hand deliveries `run_id` claimed but never gave to the relay back as pending,
        untouched otherwise (not an attempt): the run failed before sending them."""
        ...

    def set_unsubscribe(self, mailing_id: str, digests: Sequence[tuple[int, bytes]]) -> None: ...

    def finish(self, mailing_id: str, results: Sequence[DeliveryResult], at: datetime) -> None:
        """Record what came of claimed deliveries, in one transaction."""
        ...

    def progress(self, mailing_id: str) -> Progress: ...

    def problems(self, mailing_id: str, limit: int) -> list[Delivery]:
        """Deliveries refused, unknown, or pending after a failed attempt."""
        ...

    def opt_out_by_digest(self, digest: bytes, at: datetime) -> tuple[str, bool] | None:
        """Opt the customer whose unsubscribe token has this digest out of new-service
        mailings; their id and whether they were opted in until now, or None for no such
        token."""
        ...


class CustomerAudience(Protocol):
    """Who the registry says our customers are (ids only)."""

    def active(self) -> list[str]:
        """Every active customer, oldest first."""
        ...

    def opted_out(self) -> set[str]: ...

    def holders_of(self, service_ids: Iterable[str]) -> dict[str, str]:
        """Service id -> the active holder of the active contract holding it."""
        ...

    def unknown(self, customer_ids: Iterable[str]) -> list[str]:
        """The ids among `customer_ids` that are no active customer of ours."""
        ...

    def strangers(self, customer_ids: Iterable[str]) -> list[str]:
        """The ids among `customer_ids` that were never a customer of ours (in the registry
        in no status): a closed customer was ours, a stranger never was."""
        ...

    def sealed(self, customer_ids: Sequence[str]) -> list[SealedCustomer]: ...
