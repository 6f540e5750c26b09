"""The disclosure desk: third-party requests and Swiss court orders (issue 16 item 1).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "third_party_request",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("requester", sa.String(500), nullable=False),
        sa.Column("authority", sa.String(500), nullable=False),
        sa.Column("asked", sa.String(500), nullable=False),
        sa.Column("legal_basis", sa.String(500), nullable=False),
        sa.Column("customer_ids", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("answer", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_third_party_request"),
    )
    op.create_table(
        "court_order",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("court", sa.String(16), nullable=False),
        sa.Column("case_number", sa.String(64), nullable=False),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("customer_ids", sa.Text, nullable=False),
        sa.Column("categories", sa.String(200), nullable=False),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("notice_after", sa.Date, nullable=True),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("registered_at", UTCDateTime, nullable=False),
        sa.Column("request_id", sa.String(40), nullable=True),
        sa.Column("kek_id", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(64), nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_court_order"),
    )
    op.create_table(
        "disclosure",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("customer_ids", sa.Text, nullable=False),
        sa.Column("categories", sa.String(200), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("approved_at", UTCDateTime, nullable=True),
        sa.Column("disclosed_at", UTCDateTime, nullable=True),
        sa.Column("notice", sa.String(16), nullable=False),
        sa.Column("notice_after", sa.Date, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_disclosure"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["court_order.id"], name="fk_disclosure_order_id_court_order"
        ),
    )
    op.create_index("ix_disclosure_notice", "disclosure", ["notice", "notice_after"])


def downgrade() -> None:
    op.drop_index("ix_disclosure_notice", table_name="disclosure")
    op.drop_table("disclosure")
    op.drop_table("court_order")
    op.drop_table("third_party_request")
