"""What a customer is not shown yet (P5): the entries of a disclosure whose notice a court order
defers.

A disclosure's `disclose` decisions and its notice outcome are filed under each customer it
covers (P3: customers see every access recorded about their data). While the order forbids
telling the customer, showing them those entries would tell them all the same, so every view
of the ledger made *for the customer* (their own data export, the receipt handed to them)
leaves them out until the notice is lifted (`disclosures.lift`), and shows them from then on.

The log itself is untouched: the entries stay in the ledger, its tiles and every checkpoint,
and staff-facing checks (`entrusted ledger verify`, `ledger prove`, the entry bundles legal and
sysadmins may read) see all of it. The hold-back is decided once, when the notice is deferred
(`disclosure.notice-deferred`, filed under the customer and itself held back); a view adds no
entry of its own.

Held back, for one customer: the entries that name (`refs.disclosure`) a disclosure covering
them whose notice is deferred, or not yet queued while its order forbids telling them (the
moment between the export's decisions and its commit; an export that failed midway). An
entry naming such a disclosure's court order but no disclosure is held back too: it can only
be about the order the customer may not learn of yet.

```python
registry = RegistryService(parts, auth, CustomerFacingLog(ledger_store, held_back), ...)
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from entrusted.domain.audit import AuditEntry
from entrusted.domain.disclosures import CourtOrder, Disclosure, NoticeState
from entrusted.services.ports import (
    CheckpointRecord,
    Clock,
    DisclosureUnitOfWorkFactory,
    LedgerLog,
    RegistryUnitOfWork,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Withheld:
    """The disclosures (and their orders) whose entries one customer is not shown yet."""

    disclosures: frozenset[str]
    orders: frozenset[str]

    def __call__(self, body: bytes) -> bool:
        """Whether the entry `body` is held back."""
        refs = AuditEntry.from_bytes(body).refs
        named = refs.get("disclosure")
        if named is not None:
            return named in self.disclosures
        return refs.get("court_order") in self.orders


class HeldBack:
    """Which of a customer's entries their own views leave out, read from the desk's records at
    each view (an indexed look-up; nothing is parsed when nothing is deferred)."""

    def __init__(self, uow: DisclosureUnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def for_customer(self, customer_id: str) -> Withheld | None:
        return self.for_customer_with(customer_id, lambda _uow: None)[0]

    def for_customer_with(
        self, customer_id: str, also: Callable[[RegistryUnitOfWork], T]
    ) -> tuple[Withheld | None, T]:
        """`for_customer`, and what `also` reads from the registry in the same transaction
        (a read-only one, as bootstrap wires it): a view that needs both (the history page:
        the customer's language and zone) opens one transaction, not two."""
        today = self._clock().date()
        with self._uow() as uow:
            untold = uow.disclosures.untold(customer_id)
            orders: dict[str, CourtOrder | None] = {}
            for d in untold:
                if d.notice is NoticeState.NONE and d.order_id not in orders:
                    orders[d.order_id] = uow.disclosures.get_order(d.order_id)
            extra = also(uow)
        held = [d for d in untold if _gagged(d, orders.get(d.order_id), today)]
        if not held:
            return None, extra
        return Withheld(frozenset(d.id for d in held), frozenset(d.order_id for d in held)), extra


def _gagged(d: Disclosure, order: CourtOrder | None, today: date) -> bool:
    if d.notice is NoticeState.DEFERRED:
        return True  # until lifted, even once the day has come: the lift tells the customer
    # Not exported yet (or an export failed midway): held back while the order forbids telling.
    return order is None or order.notice_forbidden_on(today)


class CustomerFacingLog:
    """The ledger as a customer's own views read it: `entries_for_customer` leaves out what
    `HeldBack` withholds; everything else (sizes, proofs, checkpoints) is the log's own."""

    def __init__(self, log: LedgerLog, held: HeldBack) -> None:
        self._log = log
        self._held = held

    def entries_for_customer(self, customer_id: str, below: int) -> list[tuple[int, bytes]]:
        entries = self._log.entries_for_customer(customer_id, below)
        # The desk's state is read after the entries: an entry read here belongs to a
        # disclosure whose state is then at least as far along (decided, deferred, lifted).
        withheld = self._held.for_customer(customer_id)
        if withheld is None:
            return entries
        return [(index, body) for index, body in entries if not withheld(body)]

    def stored_size(self) -> int:
        return self._log.stored_size()

    def root_at(self, size: int) -> bytes:
        return self._log.root_at(size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self._log.inclusion_proof(index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._log.consistency_proof(old_size, new_size)

    def entries(self, start: int, end: int) -> list[bytes]:
        return self._log.entries(start, end)

    def checkpoints(self) -> Sequence[CheckpointRecord]:
        return self._log.checkpoints()

    def latest_checkpoint(self) -> CheckpointRecord | None:
        return self._log.latest_checkpoint()

    def add_checkpoint(self, size: int, root: bytes, note: str, signed_at: datetime) -> None:
        self._log.add_checkpoint(size, root, note, signed_at)
