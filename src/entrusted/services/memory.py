"""In-memory twins of the ports, for fast service tests. They behave like the real adapters
(same errors, same ordering), and the real adapters are tested against real servers."""

from __future__ import annotations

from collections.abc import Sequence

from entrusted.domain.audit import AuditEntry, Receipt
from entrusted.domain.ledger import CompactRange, leaf_hash
from entrusted.errors import Unavailable


class InMemoryLedger:
    """A ledger that keeps entries in a list; `fail` makes appends fail like a dead database."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.tree = CompactRange()
        self.fail = False

    def append(self, entry: AuditEntry) -> Receipt:
        return self.append_many([entry])[0]

    def append_many(self, entries: Sequence[AuditEntry]) -> list[Receipt]:
        if self.fail:
            raise Unavailable("ledger unavailable")
        receipts = []
        for e in entries:
            h = leaf_hash(e.to_bytes())
            receipts.append(Receipt(self.tree.size, h))
            self.tree.append(h)
            self.entries.append(e)
        return receipts

    def stored_size(self) -> int:
        return len(self.entries)

    def entries_for_customer(self, customer_id: str, below: int) -> list[tuple[int, bytes]]:
        return [
            (i, e.to_bytes()) for i, e in enumerate(self.entries[:below]) if e.owner == customer_id
        ]
