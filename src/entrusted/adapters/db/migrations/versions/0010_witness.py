"""Witness cosignatures stored beside the log's checkpoints.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_cosignature",
        sa.Column("size", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(255), nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("cosigned_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("size", "witness", name="pk_ledger_cosignature"),
    )
    op.create_table(
        "ledger_witness",
        sa.Column("witness", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("halted_reason", sa.Text, nullable=True),
        sa.Column("halted_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("witness", name="pk_ledger_witness"),
    )


def downgrade() -> None:
    op.drop_table("ledger_witness")
    op.drop_table("ledger_cosignature")
