"""A new contact e-mail address waits for its confirmation link (issue 11 item 9): the address
sealed under the customer's data key, its blind index, and the SHA-256 of the link's token.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_email",
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("email", sa.LargeBinary, nullable=False),
        sa.Column("email_idx", sa.LargeBinary(32), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_pending_email_customer_id_customer"
        ),
        sa.PrimaryKeyConstraint("customer_id", name="pk_pending_email"),
        sa.UniqueConstraint("token_hash", name="uq_pending_email_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("pending_email")
