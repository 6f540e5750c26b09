"""The versioned public policy document (issue 16 item 3, P17): its versions, with the shipped
default as version 1 so `/privacy` has a text from the first start, and the version in force
recorded on each consent grant.

Revision ID: 0018
Revises: 0017
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime
from entrusted.domain.policy_document import normalise, text_sha256
from entrusted.domain.policy_document_default import DEFAULT_AUTHOR, DEFAULT_SUMMARY, DEFAULT_TEXT

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    versions = op.create_table(
        "policy_document_version",
        sa.Column("number", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("effective", sa.Date, nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_policy_document_version"),
    )
    op.add_column("consent_grant", sa.Column("policy_version", sa.Integer, nullable=True))
    # The shipped text is version 1 from the day the schema is installed or upgraded.
    now = datetime.now(UTC)
    text = normalise(DEFAULT_TEXT)
    op.bulk_insert(
        versions,
        [
            {
                "number": 1,
                "text": text,
                "sha256": text_sha256(text),
                "effective": now.date(),
                "author": DEFAULT_AUTHOR,
                "summary": DEFAULT_SUMMARY,
                "published_at": now,
            }
        ],
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch copy of consent_grant would
    # have to rebuild the tables that reference it.
    op.execute("ALTER TABLE consent_grant DROP COLUMN policy_version")
    op.drop_table("policy_document_version")
