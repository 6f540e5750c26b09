"""FTP-specific customer passwords (issue 14 item 2): one argon2id hash per FTP space, so a
customer's FTP login never uses (or exposes) the password of their customer account.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ftp_password",
        sa.Column("service_id", sa.String(40), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["hosted_service.id"], name="fk_ftp_password_service_id_hosted_service"
        ),
        sa.PrimaryKeyConstraint("service_id", name="pk_ftp_password"),
    )


def downgrade() -> None:
    op.drop_table("ftp_password")
