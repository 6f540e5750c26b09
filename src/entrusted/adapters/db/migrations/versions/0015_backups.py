"""Backups (issue 15, P15, P16): the archives, each day's key (the only copy, wrapped by the
master key; deleting its row destroys the day's archives) and the day's public facts kept as
evidence after the key is gone.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_day",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("destroy_after", UTCDateTime, nullable=False),
        sa.Column("destroyed_at", UTCDateTime, nullable=True),
        sa.Column("evidence_recorded", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_backup_day"),
    )
    op.create_table(
        "backup_key",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kek_id", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(64), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_backup_key"),
    )
    op.create_table(
        "backup_archive",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("service_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("destroy_after", UTCDateTime, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("wrapped_dek", sa.LargeBinary(64), nullable=True),
        sa.Column("destroyed_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_backup_archive"),
    )
    op.create_index("ix_backup_archive_day", "backup_archive", ["day"])
    op.create_index("ix_backup_archive_customer_id", "backup_archive", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_backup_archive_customer_id", table_name="backup_archive")
    op.drop_index("ix_backup_archive_day", table_name="backup_archive")
    op.drop_table("backup_archive")
    op.drop_table("backup_key")
    op.drop_table("backup_day")
