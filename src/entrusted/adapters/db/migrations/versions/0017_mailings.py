"""Purpose-limited customer mailings (issue 16 item 2, P6, P7): the mailing, one delivery row
per recipient (what makes a send resumable without mailing anyone twice) and the customers who
opted out of new-service mailings.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailing",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("services", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailing"),
    )
    op.create_table(
        "mailing_delivery",
        sa.Column("mailing_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("unsubscribe_digest", sa.LargeBinary(32), nullable=True),
        sa.PrimaryKeyConstraint("mailing_id", "seq", name="pk_mailing_delivery"),
        sa.UniqueConstraint(
            "mailing_id", "customer_id", name="uq_mailing_delivery_recipient"
        ),
        sa.UniqueConstraint(
            "unsubscribe_digest", name="uq_mailing_delivery_unsubscribe_digest"
        ),
    )
    op.create_index(
        "ix_mailing_delivery_status", "mailing_delivery", ["mailing_id", "status", "seq"]
    )
    op.create_table(
        "mailing_opt_out",
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_mailing_opt_out"),
    )


def downgrade() -> None:
    op.drop_table("mailing_opt_out")
    op.drop_index("ix_mailing_delivery_status", table_name="mailing_delivery")
    op.drop_table("mailing_delivery")
    op.drop_table("mailing")
