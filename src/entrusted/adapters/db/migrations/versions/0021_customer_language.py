"""The customer's language and time zone (issue 18): how mails to them are written.

Plain columns, not personal data under the customer's key: the outbox worker reads them to
pick a template's language and to show times in the customer's zone. Existing rows get NULL,
which means the configured default (settings `default_language`, `default_time_zone`).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("language")
