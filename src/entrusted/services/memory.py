"""In-memory twins of the ports, for fast service tests. They behave like the real adapters
(same errors, same ordering), and the real adapters are tested against real servers."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from types import TracebackType
from typing import Generic, Self, TypeVar

from entrusted.domain.audit import AuditEntry, Receipt
from entrusted.domain.ledger import CompactRange, leaf_hash
from entrusted.errors import Unavailable

S = TypeVar("S")


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

    def append_body(self, body: bytes, owner: str | None) -> Receipt:
        """As `GroupCommitLedger.append_body`: the entry is kept as the bytes say it."""
        entry = AuditEntry.from_bytes(body)
        if entry.owner != owner or entry.to_bytes() != body:
            raise ValueError("the body is not a canonical entry filed under its owner")
        return self.append_many([entry])[0]

    def stored_size(self) -> int:
        return len(self.entries)

    def entries_for_customer(self, customer_id: str, below: int) -> list[tuple[int, bytes]]:
        return [
            (i, e.to_bytes()) for i, e in enumerate(self.entries[:below]) if e.owner == customer_id
        ]


class SnapshotStore(Generic[S]):
    """The committed state of an in-memory twin; `commits` counts what was published."""

    def __init__(self, state: S) -> None:
        self.state = state
        self.commits = 0


class SnapshotUnitOfWork(Generic[S]):
    """Works on a private copy of the store's state; `commit` publishes it, so a unit left
    without a commit (or by an exception) changes nothing, like a rolled-back transaction."""

    def __init__(self, store: SnapshotStore[S]) -> None:
        self._store = store

    def _bind(self, state: S) -> None:
        """Point the repositories at `state` (each twin names its own)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._state = copy.deepcopy(self._store.state)
        self._bind(self._state)
        return self

    def commit(self) -> None:
        self._store.state = copy.deepcopy(self._state)
        self._store.commits += 1

    def rollback(self) -> None:
        """Nothing to undo: uncommitted writes live only in this unit's private copy."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()
