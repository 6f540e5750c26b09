"""The customer registry: encrypted customers, contracts, hosted services, identifications,
contract transfers and customer sessions.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("kek_id", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(64), nullable=False),
        sa.Column("last_name", sa.LargeBinary, nullable=False),
        sa.Column("first_name", sa.LargeBinary, nullable=False),
        sa.Column("email", sa.LargeBinary, nullable=False),
        sa.Column("email_idx", sa.LargeBinary(32), nullable=False),
        sa.Column("phone", sa.LargeBinary, nullable=True),
        sa.Column("phone_idx", sa.LargeBinary(32), nullable=True),
        sa.Column("mobile", sa.LargeBinary, nullable=True),
        sa.Column("mobile_idx", sa.LargeBinary(32), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("password_token_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("password_token_expires_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_customer"),
        sa.UniqueConstraint("email_idx", name="uq_customer_email_idx"),
        sa.UniqueConstraint("password_token_hash", name="uq_customer_password_token_hash"),
    )
    op.create_index("ix_customer_kek_id", "customer", ["kek_id", "id"])
    op.create_index("ix_customer_phone_idx", "customer", ["phone_idx"])
    op.create_index("ix_customer_mobile_idx", "customer", ["mobile_idx"])
    op.create_table(
        "contract",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("holder_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["customer.id"], name="fk_contract_holder_id_customer"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contract"),
    )
    op.create_index("ix_contract_holder_id", "contract", ["holder_id"])
    op.create_table(
        "hosted_service",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.LargeBinary, nullable=False),
        sa.Column("name_idx", sa.LargeBinary(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name="fk_hosted_service_contract_id_contract"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_hosted_service"),
        sa.UniqueConstraint("name_idx", name="uq_hosted_service_name_idx"),
    )
    op.create_index("ix_hosted_service_contract_id", "hosted_service", ["contract_id"])
    op.create_table(
        "identification",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("completed_at", UTCDateTime, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_identification_customer_id_customer"
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name="fk_identification_contract_id_contract"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_identification"),
    )
    op.create_index(
        "ix_identification_customer_id", "identification", ["customer_id", "completed_at"]
    )
    op.create_table(
        "contract_transfer",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("from_customer", sa.String(40), nullable=False),
        sa.Column("to_customer", sa.String(40), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name="fk_contract_transfer_contract_id_contract"
        ),
        sa.ForeignKeyConstraint(
            ["from_customer"],
            ["customer.id"],
            name="fk_contract_transfer_from_customer_customer",
        ),
        sa.ForeignKeyConstraint(
            ["to_customer"], ["customer.id"], name="fk_contract_transfer_to_customer_customer"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contract_transfer"),
    )
    op.create_index("ix_contract_transfer_contract_id", "contract_transfer", ["contract_id"])
    op.create_table(
        "customer_session",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_customer_session_customer_id_customer"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_session"),
        sa.UniqueConstraint("token_hash", name="uq_customer_session_token_hash"),
    )
    op.create_index("ix_customer_session_customer_id", "customer_session", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_customer_session_customer_id", "customer_session")
    op.drop_table("customer_session")
    op.drop_index("ix_contract_transfer_contract_id", "contract_transfer")
    op.drop_table("contract_transfer")
    op.drop_index("ix_identification_customer_id", "identification")
    op.drop_table("identification")
    op.drop_index("ix_hosted_service_contract_id", "hosted_service")
    op.drop_table("hosted_service")
    op.drop_index("ix_contract_holder_id", "contract")
    op.drop_table("contract")
    op.drop_index("ix_customer_mobile_idx", "customer")
    op.drop_index("ix_customer_phone_idx", "customer")
    op.drop_index("ix_customer_kek_id", "customer")
    op.drop_table("customer")
