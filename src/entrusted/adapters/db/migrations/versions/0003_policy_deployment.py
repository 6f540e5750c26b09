"""Policy rules deployments: which rules file ran when, who deployed it, its ledger entry.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_deployment",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rules", sa.LargeBinary, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("deployed_by", sa.String(100), nullable=False),
        sa.Column("deployed_at", UTCDateTime, nullable=False),
        sa.Column("summary", sa.String(2000), nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_deployment"),
    )


def downgrade() -> None:
    op.drop_table("policy_deployment")
