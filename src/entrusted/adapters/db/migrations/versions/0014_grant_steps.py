"""What staff opened under a grant, by name, sealed for the customer's closing summary
(issue 14 item 3).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grant_step",
        sa.Column("ledger_index", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("command", sa.String(16), nullable=False),
        sa.Column("name", sa.LargeBinary, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["consent_grant.id"], name="fk_grant_step_grant_id_consent_grant"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_grant_step_customer_id_customer"
        ),
        sa.PrimaryKeyConstraint("ledger_index", name="pk_grant_step"),
    )
    op.create_index("ix_grant_step_grant_id", "grant_step", ["grant_id"])


def downgrade() -> None:
    op.drop_index("ix_grant_step_grant_id", table_name="grant_step")
    op.drop_table("grant_step")
