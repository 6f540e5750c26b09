"""One verbal consent per identification: a caller identified once gives one one-off consent
(P11), even when an agent submits the form twice or ten times at once.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "uq_verbal_consent_identification_id",
        "verbal_consent",
        ["identification_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_verbal_consent_identification_id", "verbal_consent")
