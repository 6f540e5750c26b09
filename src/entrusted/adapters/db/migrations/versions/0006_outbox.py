"""Durable outbox: notices written in the same transaction as the change, delivered by the worker.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("topic", sa.String(40), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_topic", "outbox", ["topic", "ref", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_topic", table_name="outbox")
    op.drop_index("ix_outbox_status", table_name="outbox")
    op.drop_table("outbox")
