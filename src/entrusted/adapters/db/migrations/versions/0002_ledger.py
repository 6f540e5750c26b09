"""Ledger: entries, C2SP tiles, tree state, checkpoints, and triggers that keep them append-only.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

IMMUTABLE = ("ledger_entry", "ledger_full_tile", "ledger_checkpoint")

PARTIAL_OK = """NEW.level = OLD.level AND (
    (NEW.idx = OLD.idx AND substr(NEW.hashes, 1, length(OLD.hashes)) = OLD.hashes)
    OR (NEW.idx = OLD.idx + 1 AND EXISTS (
        SELECT 1 FROM ledger_full_tile f WHERE f.level = OLD.level AND f.idx = OLD.idx
        AND substr(f.hashes, 1, length(OLD.hashes)) = OLD.hashes)))"""

PG_PARTIAL_OK = PARTIAL_OK.replace("substr(", "substring(").replace(
    ", 1, length(", " from 1 for length("
)


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("idx", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("idx", name="pk_ledger_entry"),
    )
    op.create_index("ix_ledger_entry_customer_id", "ledger_entry", ["customer_id"])
    op.create_table(
        "ledger_full_tile",
        sa.Column("level", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_full_tile"),
    )
    op.create_table(
        "ledger_partial_tile",
        sa.Column("level", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("level", name="pk_ledger_partial_tile"),
    )
    op.create_table(
        "ledger_state",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_state"),
    )
    op.create_table(
        "ledger_checkpoint",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("signed_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_checkpoint"),
    )
    op.create_index("ix_ledger_checkpoint_size", "ledger_checkpoint", ["size"])
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgres_triggers()


def _sqlite_triggers() -> None:
    for table in IMMUTABLE:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    op.execute(
        f"CREATE TRIGGER ledger_partial_tile_grow BEFORE UPDATE ON ledger_partial_tile "
        f"WHEN NOT ({PARTIAL_OK}) BEGIN SELECT RAISE(ABORT, 'partial tiles only grow'); END"
    )
    op.execute(
        "CREATE TRIGGER ledger_partial_tile_no_delete BEFORE DELETE ON ledger_partial_tile "
        "BEGIN SELECT RAISE(ABORT, 'partial tiles only grow'); END"
    )
    op.execute(
        "CREATE TRIGGER ledger_state_grow BEFORE UPDATE ON ledger_state "
        "WHEN NEW.size < OLD.size BEGIN SELECT RAISE(ABORT, 'the ledger only grows'); END"
    )
    op.execute(
        "CREATE TRIGGER ledger_state_no_delete BEFORE DELETE ON ledger_state "
        "BEGIN SELECT RAISE(ABORT, 'the ledger only grows'); END"
    )


def _postgres_triggers() -> None:
    op.execute(
        "CREATE FUNCTION ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in (*IMMUTABLE, "ledger_partial_tile", "ledger_state"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse()"
        )
    for table in IMMUTABLE:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse()"
        )
    op.execute(
        "CREATE FUNCTION ledger_partial_tile_grow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NOT ({PG_PARTIAL_OK}) THEN RAISE EXCEPTION 'partial tiles only grow'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER ledger_partial_tile_grow BEFORE UPDATE ON ledger_partial_tile "
        "FOR EACH ROW EXECUTE FUNCTION ledger_partial_tile_grow()"
    )
    op.execute(
        "CREATE FUNCTION ledger_state_grow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.size < OLD.size THEN RAISE EXCEPTION 'the ledger only grows'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER ledger_state_grow BEFORE UPDATE ON ledger_state "
        "FOR EACH ROW EXECUTE FUNCTION ledger_state_grow()"
    )


def downgrade() -> None:
    for table in ("ledger_checkpoint", "ledger_state", "ledger_partial_tile", "ledger_full_tile"):
        op.drop_table(table)
    op.drop_index("ix_ledger_entry_customer_id", "ledger_entry")
    op.drop_table("ledger_entry")
    if op.get_bind().dialect.name != "sqlite":
        for fn in ("ledger_refuse", "ledger_partial_tile_grow", "ledger_state_grow"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
