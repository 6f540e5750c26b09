"""Ledger: column bounds matching the gate's limits, one consistent signer.

`ledger_entry.customer_id` grows from 40 to the gate's 64 characters, so an id the gate accepts
can always be filed (on PostgreSQL a longer value failed the whole group-commit batch). A new
trigger refuses a checkpoint smaller than the largest one already stored, whoever inserts it:
the signer also checks consistency in the same transaction, but the size rule holds even for a
writer that skips the service.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SMALLER = "NEW.size < (SELECT max(size) FROM ledger_checkpoint)"


def _customer_id(old: int, new: int) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("ledger_entry") as batch:
        batch.alter_column(
            "customer_id",
            existing_type=sa.String(old),
            type_=sa.String(new),
            existing_nullable=True,
        )
    if sqlite:
        # SQLite's batch mode rebuilds the table, which drops its append-only triggers.
        for event in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS ledger_entry_no_{event.lower()}")
            op.execute(
                f"CREATE TRIGGER ledger_entry_no_{event.lower()} BEFORE {event} ON ledger_entry "
                "BEGIN SELECT RAISE(ABORT, 'ledger_entry is append-only'); END"
            )


def upgrade() -> None:
    _customer_id(40, 64)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER ledger_checkpoint_grow BEFORE INSERT ON ledger_checkpoint "
            f"WHEN {_SMALLER} BEGIN SELECT RAISE(ABORT, 'checkpoints only grow'); END"
        )
        return
    op.execute(
        "CREATE FUNCTION ledger_checkpoint_grow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {_SMALLER} THEN RAISE EXCEPTION 'checkpoints only grow'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER ledger_checkpoint_grow BEFORE INSERT ON ledger_checkpoint "
        "FOR EACH ROW EXECUTE FUNCTION ledger_checkpoint_grow()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS ledger_checkpoint_grow")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_checkpoint_grow ON ledger_checkpoint")
        op.execute("DROP FUNCTION IF EXISTS ledger_checkpoint_grow()")
    _customer_id(64, 40)
