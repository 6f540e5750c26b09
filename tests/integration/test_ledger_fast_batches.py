"""The writer's fast batch path (driver-level statements: multi-row INSERTs on SQLite, one
pipeline or COPY on PostgreSQL) stores exactly what the slow definition says: every entry
with its customer, the root of the leaf hashes, and tiles from which a fresh process
rebuilds the same tree, for batch sizes on both sides of each statement-size boundary."""

from __future__ import annotations

import os

import pytest

from entrusted.adapters.db import ledger_store
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.bootstrap import Container
from entrusted.domain.ledger import TILE_WIDTH, leaf_hash, root_of

pytestmark = pytest.mark.promise("P3")


def test_batches_across_statement_boundaries_match_the_definition(container: Container) -> None:
    store = container.ledger_store
    store.open()
    rows_per_insert = ledger_store.SQLITE_ROWS_PER_INSERT
    copy_from = ledger_store.PG_COPY_FROM
    sizes = [
        1,
        rows_per_insert - 1,
        rows_per_insert,
        rows_per_insert + 1,
        copy_from,
        copy_from + 1,
        3 * TILE_WIDTH + 5,  # walks a partial tile over several full ones in one batch
        2,
    ]
    before = store.stored_size()  # whatever set-up ledgered
    items: list[tuple[bytes, str | None]] = [(body, None) for body in store.entries(0, before)]
    for n, size in enumerate(sizes):
        batch = [
            (os.urandom(40) + f"{n}:{i}".encode(), None if i % 3 == 0 else f"cus_{i % 5}")
            for i in range(size)
        ]
        receipts = store.append_batch(batch)
        assert [r.index for r in receipts] == list(range(len(items), len(items) + size))
        assert [r.leaf_hash for r in receipts] == [leaf_hash(body) for body, _ in batch]
        items.extend(batch)
    total = len(items)
    assert store.stored_size() == total
    assert store.entries(0, total) == [body for body, _ in items]
    expected_root = root_of([leaf_hash(body) for body, _ in items])
    assert store.root() == expected_root
    # A fresh process rebuilds the tree from the stored tiles and partial tiles alone.
    fresh = SqlLedgerStore(container.engine)
    fresh.open()
    assert fresh.root() == expected_root
    assert fresh.root_at(total) == expected_root
    for customer in ("cus_0", "cus_3"):
        mine = [(i, body) for i, (body, who) in enumerate(items) if who == customer and i >= before]
        assert store.entries_for_customer(customer, total) == mine


def test_two_sequencers_on_one_database_interleave(container: Container) -> None:
    """Another process's appends are noticed under the lock and the state reloaded, on the
    fast path as on the slow one: two stores alternating build one log."""
    first = container.ledger_store
    first.open()
    second = SqlLedgerStore(container.engine)
    second.open()
    start = first.stored_size()
    bodies: list[bytes] = []
    for n in range(12):
        batch = [(os.urandom(32) + f"{n}:{i}".encode(), "cus_1") for i in range(n * 37 % 300 + 1)]
        receipts = (first if n % 2 else second).append_batch(batch)
        assert receipts[0].index == start + len(bodies)
        bodies.extend(body for body, _ in batch)
    stored = first.entries(0, start + len(bodies))
    assert stored[start:] == bodies
    assert second.root_at(len(stored)) == root_of([leaf_hash(b) for b in stored])
