"""Shared by the ledger tests: realistic entries, a filled log, and a way past the triggers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry

CUSTOMERS = ("cus_1", "cus_2", "cus_3", None)  # None: an access to no customer's data
LEDGER_TABLES = (
    t.ledger_entry,
    t.ledger_full_tile,
    t.ledger_partial_tile,
    t.ledger_state,
    t.ledger_checkpoint,
)


def audit_entry(i: int, owner: str | None, rng: random.Random | None = None) -> AuditEntry:
    rng = rng or random.Random(i)
    return AuditEntry(
        time=datetime(2026, 11, 27, tzinfo=UTC) + timedelta(seconds=i),
        actor_kind="staff",
        actor_id=f"stf_{i % 7}",
        actor_roles=("support",),
        action="list_metadata",
        resource_kind="mailbox_metadata",
        resource_id=f"mbx_{i}",
        owner=owner,
        decision="allow" if i % 5 else "deny",
        rule="support-metadata",
        reason="support may see mailbox metadata",
        refs={"case": f"case_{i % 11}"} if i % 3 else {},
        nonce=rng.randbytes(32),
    )


def fill(c: Container, size: int, checkpoint_sizes: tuple[int, ...] = ()) -> None:
    """Append entries 0..size-1 (owners cycling through CUSTOMERS), signing at each size given."""
    rng = random.Random(size)
    start = c.ledger_store.stored_size()
    for stop in sorted({*checkpoint_sizes, size}):
        batch = [audit_entry(i, CUSTOMERS[i % len(CUSTOMERS)], rng) for i in range(start, stop)]
        for k in range(0, len(batch), 5000):
            c.ledger.append_many(batch[k : k + 5000])
        if stop in checkpoint_sizes:
            c.checkpoints.sign(force=True)
        start = stop


def disable_triggers(engine: sa.Engine) -> None:
    """Let a test rewrite the ledger as an attacker with database access would."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for (name,) in conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all():
                conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        else:
            for table in LEDGER_TABLES:
                conn.execute(sa.text(f"ALTER TABLE {table.name} DISABLE TRIGGER ALL"))


Snapshot = dict[str, list[dict[str, Any]]]


def snapshot(engine: sa.Engine, tables: tuple[sa.Table, ...] = LEDGER_TABLES) -> Snapshot:
    with engine.connect() as conn:
        return {
            table.name: [dict(r._mapping) for r in conn.execute(sa.select(table))]
            for table in tables
        }


def restore(engine: sa.Engine, saved: Snapshot, tables: set[str]) -> None:
    with engine.begin() as conn:
        for table in LEDGER_TABLES:
            if table.name in tables:
                conn.execute(table.delete())
                if saved[table.name]:
                    conn.execute(table.insert(), saved[table.name])
