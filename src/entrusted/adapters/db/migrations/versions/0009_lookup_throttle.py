"""Durable per-agent look-up counts, so the throttle holds across processes and restarts;
staff login attempts recorded in flight before their password is checked.

`support_lookup` keeps one row per admitted support look-up (staff id and time, nothing about
whom), pruned after an hour by the throttle itself. `login_failure.in_flight` marks a staff
attempt whose password is still being hashed: it counts toward the limits at once, so parallel
guesses cannot all pass one stale count (services/staff.py).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_lookup",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_support_lookup"),
    )
    op.create_index("ix_support_lookup_staff", "support_lookup", ["staff_id", "at"])
    op.add_column(
        "login_failure",
        sa.Column("in_flight", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite >= 3.35 drops columns natively)
    op.execute("ALTER TABLE login_failure DROP COLUMN in_flight")
    op.drop_index("ix_support_lookup_staff", "support_lookup")
    op.drop_table("support_lookup")
