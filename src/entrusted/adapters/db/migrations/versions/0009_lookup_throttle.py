"""Durable per-agent look-up counts, so the throttle holds across processes and restarts.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa  # noqa: F401 - filled in by the area that owns this revision
from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
