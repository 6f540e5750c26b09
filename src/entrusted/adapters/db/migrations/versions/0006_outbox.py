"""Durable outbox: notices written in the same transaction as the change, delivered by the worker.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa  # noqa: F401 - filled in by the area that owns this revision
from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
