"""The SQL ledger on both databases: durable group commit, proofs that verify against signed
checkpoints, append-only triggers, and a start-up check that refuses a rewritten log."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.bootstrap import Container
from entrusted.crypto.signing import verify_note
from entrusted.domain.audit import AuditEntry
from entrusted.domain.ledger import leaf_hash, root_of, verify_consistency, verify_inclusion
from entrusted.errors import TamperDetected

pytestmark = pytest.mark.promise("P3", "P14")


def entry(i: int, owner: str | None = "cus_1") -> AuditEntry:
    return AuditEntry(
        time=datetime(2026, 11, 27, tzinfo=UTC),
        actor_kind="staff",
        actor_id=f"stf_{i % 7}",
        actor_roles=("support",),
        action="list_metadata",
        resource_kind="mailbox_metadata",
        resource_id=f"mbx_{i}",
        owner=owner,
        decision="allow",
        rule="support-metadata",
        reason="support may see mailbox metadata",
        nonce=os.urandom(32),
    )


def test_appends_proofs_and_checkpoints(container: Container) -> None:
    entries = [entry(i) for i in range(700)]
    receipts = container.ledger.append_many(entries[:300])
    threads = [
        threading.Thread(target=lambda e=e: receipts.append(container.ledger.append(e)))
        for e in entries[300:]
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r.index for r in receipts) == list(range(700))
    store = container.ledger_store
    bodies = store.entries(0, 700)
    assert [leaf_hash(b) for b in bodies] == [
        r.leaf_hash for r in sorted(receipts, key=lambda r: r.index)
    ]
    root = root_of([leaf_hash(b) for b in bodies])
    signed = container.checkpoints.sign()
    assert signed is not None
    assert signed.root == root
    cp = verify_note(signed.note, container.checkpoints.vkey)
    assert (cp.size, cp.root) == (700, root)
    for idx in (0, 1, 255, 256, 511, 699):
        proof = store.inclusion_proof(idx, 700)
        assert verify_inclusion(leaf_hash(bodies[idx]), idx, 700, proof, root)
    old_root = root_of([leaf_hash(b) for b in bodies[:257]])
    assert verify_consistency(257, 700, old_root, root, store.consistency_proof(257, 700))
    assert container.checkpoints.sign() is None  # unchanged and not yet due


def test_restart_reproduces_state(container: Container) -> None:
    container.ledger.append_many([entry(i) for i in range(600)])
    reopened = SqlLedgerStore(container.engine)
    reopened.open()
    assert reopened.size == 600
    assert reopened.root() == container.ledger_store.root()


def test_triggers_refuse_rewrites(container: Container) -> None:
    container.ledger.append_many([entry(i) for i in range(300)])
    container.checkpoints.sign()
    # Each statement with the message of the trigger that must stop it (the same words on
    # SQLite and PostgreSQL), so a refusal for another reason (a typo, a lock) does not pass.
    for statement, message in (
        ("UPDATE ledger_entry SET body = body WHERE idx = 3", "ledger_entry is append-only"),
        ("DELETE FROM ledger_entry WHERE idx = 3", "ledger_entry is append-only"),
        ("DELETE FROM ledger_full_tile", "ledger_full_tile is append-only"),
        ("UPDATE ledger_full_tile SET hashes = hashes", "ledger_full_tile is append-only"),
        ("DELETE FROM ledger_checkpoint", "ledger_checkpoint is append-only"),
        ("UPDATE ledger_state SET size = 1", "the ledger only grows"),
        ("UPDATE ledger_partial_tile SET hashes = X'00'", "partial tiles only grow"),
    ):
        sql = statement
        if container.engine.dialect.name == "postgresql":
            sql = statement.replace("X'00'", "'\\x00'::bytea")
        with (
            pytest.raises(sa.exc.DatabaseError, match=message),
            container.engine.begin() as conn,
        ):
            conn.execute(sa.text(sql))


def _bypass(container: Container, table: str, sqlite_sql: str, pg_sql: str) -> None:
    with container.engine.begin() as conn:
        if container.engine.dialect.name == "sqlite":
            for (name,) in conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"),
                {"t": table},
            ):
                conn.execute(sa.text(f"DROP TRIGGER {name}"))
            conn.execute(sa.text(sqlite_sql))
        else:
            conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
            conn.execute(sa.text(pg_sql))


def test_startup_refuses_tampered_tiles(container: Container) -> None:
    container.ledger.append_many([entry(i) for i in range(300)])
    container.ledger.stop()
    _bypass(
        container,
        "ledger_partial_tile",
        "UPDATE ledger_partial_tile SET hashes = zeroblob(length(hashes))",
        "UPDATE ledger_partial_tile SET hashes = decode(repeat('00', length(hashes)), 'hex')",
    )
    with pytest.raises(TamperDetected):
        SqlLedgerStore(container.engine).open()


def test_startup_refuses_log_inconsistent_with_checkpoint(container: Container) -> None:
    container.ledger.append_many([entry(i) for i in range(40)])
    container.checkpoints.sign()
    container.ledger.stop()
    _bypass(
        container,
        "ledger_checkpoint",
        "UPDATE ledger_checkpoint SET root = zeroblob(32)",
        "UPDATE ledger_checkpoint SET root = decode(repeat('00', 32), 'hex')",
    )
    with pytest.raises(TamperDetected):
        SqlLedgerStore(container.engine).open()


def test_a_customer_page_without_a_cursor_is_the_newest(container: Container) -> None:
    """The history's first page reads no stored size: `before=None` is every committed entry,
    newest first, exactly the page below the stored size, and only the customer's own."""
    container.ledger.append_many([entry(i, "cus_1" if i % 3 else "cus_2") for i in range(40)])
    store = container.ledger_store
    newest = store.customer_page("cus_1", None, 10)
    assert newest == store.customer_page("cus_1", store.stored_size(), 10)
    assert [i for i, _ in newest] == [i for i in range(39, -1, -1) if i % 3][:10]
    assert all(AuditEntry.from_bytes(b).owner == "cus_1" for _, b in newest)
    older = store.customer_page("cus_1", newest[-1][0], 10)
    assert [i for i, _ in older] == [i for i in range(newest[-1][0] - 1, -1, -1) if i % 3][:10]


def test_opening_reads_one_snapshot_while_another_writer_appends(container: Container) -> None:
    """A second process (here a second store) appends between the first and the second read
    of `open()`: the state read first is older than the partial tiles read after it, unless
    both come from one snapshot. Without the snapshot this refused a healthy log as tampered
    (seen once in CI, racing two instances on PostgreSQL)."""
    container.ledger.append_many([entry(i) for i in range(10)])
    other = SqlLedgerStore(container.engine)
    other.open()
    opening = SqlLedgerStore(container.engine)
    reads: list[int] = []

    class Interleaved:
        def __init__(self, conn: sa.Connection) -> None:
            self._conn = conn

        def execute(self, *args: Any, **kwargs: Any) -> Any:
            done = self._conn.execute(*args, **kwargs)
            reads.append(1)
            if len(reads) == 1:  # after the state row: another writer commits a batch
                other.append_batch([(entry(100 + i).to_bytes(), "cus_1") for i in range(5)])
            return done

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

    load = opening._load
    opening._load = lambda conn: load(Interleaved(conn))  # type: ignore[method-assign, arg-type]  # a proxy standing in for the connection
    opening.open()  # no TamperDetected: the size and tiles seen are those of size 10
    assert opening.stored_size() == 15  # the append did commit, after the snapshot
    assert len(reads) >= 2
    reopened = SqlLedgerStore(container.engine)
    reopened.open()
