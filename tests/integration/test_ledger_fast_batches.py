"""The writer's fast batch path (driver-level statements: multi-row INSERTs on SQLite, one
pipeline or COPY on PostgreSQL) stores exactly what the slow definition says: every entry
with its customer, the root of the leaf hashes, and tiles from which a fresh process
rebuilds the same tree, for batch sizes on both sides of each statement-size boundary. The
writer keeps one driver connection between batches, drops it when a batch fails in the
database (the next batch starts afresh on the same tree) and gives it back when it stops."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from entrusted.adapters.db import ledger_batch
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.bootstrap import Container
from entrusted.domain.ledger import TILE_WIDTH, leaf_hash, root_of
from entrusted.errors import Unavailable

pytestmark = pytest.mark.promise("P3")


def test_batches_across_statement_boundaries_match_the_definition(container: Container) -> None:
    store = container.ledger_store
    store.open()
    rows_per_insert = ledger_batch.SQLITE_ROWS_PER_INSERT
    copy_from = ledger_batch.PG_COPY_FROM
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


def _plant_failing_insert(engine: sa.Engine, on: bool) -> None:
    """A trigger refusing entries filed under `cus_boom`: a batch that fails inside the
    database, after BEGIN, as a full disk or a lost connection would."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER planted_boom BEFORE INSERT ON ledger_entry "
                "WHEN NEW.customer_id = 'cus_boom' BEGIN SELECT RAISE(ABORT, 'planted'); END"
                if on
                else "DROP TRIGGER planted_boom"
            )
        elif on:
            conn.exec_driver_sql(
                "CREATE FUNCTION planted_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.customer_id = 'cus_boom' THEN RAISE EXCEPTION 'planted'; END IF; "
                "RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER planted_boom BEFORE INSERT ON ledger_entry "
                "FOR EACH ROW EXECUTE FUNCTION planted_boom()"
            )
        else:
            conn.exec_driver_sql("DROP TRIGGER planted_boom ON ledger_entry")
            conn.exec_driver_sql("DROP FUNCTION planted_boom()")


def test_the_writer_keeps_one_connection_drops_it_on_failure_and_returns_it(
    container: Container,
) -> None:
    ledger, engine = container.ledger, container.engine
    ledger.append_raw([(b"before", "cus_1")])
    pool = engine.pool
    assert pool.checkedout() == 1  # type: ignore[attr-defined]  # QueuePool: the writer's own
    size = ledger.store.stored_size()
    _plant_failing_insert(engine, on=True)
    try:
        with pytest.raises(Unavailable, match="nothing was recorded"):
            ledger.append_raw([(b"fails", "cus_boom"), (b"with it", "cus_1")])
    finally:
        _plant_failing_insert(engine, on=False)
    assert ledger.store.stored_size() == size  # the failed batch left nothing
    receipts = ledger.append_raw([(b"after", "cus_1")])  # a fresh connection, same tree
    assert receipts[0].index == size
    assert ledger.store.root() == root_of([leaf_hash(b) for b in ledger.store.entries(0, size + 1)])
    ledger.stop()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]  # given back on stop
