"""Support cases and consent: cases, access requests, grants, verbal consents, grant sessions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".", maxsplit=1)[0]
    return sa.ForeignKeyConstraint([column], [target], name=f"fk_{table}_{column}_{ref_table}")


def upgrade() -> None:
    op.create_table(
        "support_case",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("reopened_from", sa.String(40), nullable=True),
        sa.Column("flagged_at", UTCDateTime, nullable=True),
        sa.Column("flag_reason", sa.String(200), nullable=True),
        _fk("support_case", "customer_id", "customer.id"),
        _fk("support_case", "contract_id", "contract.id"),
        _fk("support_case", "reopened_from", "support_case.id"),
        sa.PrimaryKeyConstraint("id", name="pk_support_case"),
    )
    op.create_index("ix_support_case_customer_id", "support_case", ["customer_id"])
    op.create_index("ix_support_case_contract_id", "support_case", ["contract_id"])
    op.create_table(
        "access_request",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("service_id", sa.String(40), nullable=False),
        sa.Column("service_kind", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("justification", sa.String(500), nullable=False),
        sa.Column("read_only", sa.Boolean, nullable=False),
        sa.Column("sessions", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("link_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("answered_at", UTCDateTime, nullable=True),
        sa.Column("answered_by", sa.String(64), nullable=True),
        sa.Column("grant_id", sa.String(40), nullable=True),
        _fk("access_request", "case_id", "support_case.id"),
        _fk("access_request", "customer_id", "customer.id"),
        _fk("access_request", "contract_id", "contract.id"),
        _fk("access_request", "service_id", "hosted_service.id"),
        sa.PrimaryKeyConstraint("id", name="pk_access_request"),
        sa.UniqueConstraint("link_hash", name="uq_access_request_link_hash"),
    )
    op.create_index("ix_access_request_case_id", "access_request", ["case_id"])
    op.create_index("ix_access_request_contract_id", "access_request", ["contract_id"])
    op.create_index("ix_access_request_status", "access_request", ["status", "expires_at"])
    op.create_table(
        "consent_grant",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("service_id", sa.String(40), nullable=False),
        sa.Column("service_kind", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("read_only", sa.Boolean, nullable=False),
        sa.Column("max_sessions", sa.Integer, nullable=False),
        sa.Column("sessions_used", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(40), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("first_used_at", UTCDateTime, nullable=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("ended_by", sa.String(64), nullable=True),
        _fk("consent_grant", "case_id", "support_case.id"),
        _fk("consent_grant", "customer_id", "customer.id"),
        _fk("consent_grant", "contract_id", "contract.id"),
        _fk("consent_grant", "service_id", "hosted_service.id"),
        sa.PrimaryKeyConstraint("id", name="pk_consent_grant"),
    )
    op.create_index("ix_consent_grant_case_id", "consent_grant", ["case_id"])
    op.create_index("ix_consent_grant_contract_id", "consent_grant", ["contract_id"])
    op.create_index("ix_consent_grant_ended_at", "consent_grant", ["ended_at"])
    op.create_index(
        "ix_consent_grant_staff_id", "consent_grant", ["staff_id", "service_id", "case_id"]
    )
    op.create_table(
        "verbal_consent",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("identification_id", sa.String(40), nullable=False),
        sa.Column("identification_method", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(500), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("not_me_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("not_me_at", UTCDateTime, nullable=True),
        _fk("verbal_consent", "case_id", "support_case.id"),
        _fk("verbal_consent", "customer_id", "customer.id"),
        _fk("verbal_consent", "identification_id", "identification.id"),
        _fk("verbal_consent", "grant_id", "consent_grant.id"),
        sa.PrimaryKeyConstraint("id", name="pk_verbal_consent"),
        sa.UniqueConstraint("not_me_hash", name="uq_verbal_consent_not_me_hash"),
    )
    op.create_index("ix_verbal_consent_case_id", "verbal_consent", ["case_id"])
    op.create_table(
        "grant_session",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        _fk("grant_session", "grant_id", "consent_grant.id"),
        sa.PrimaryKeyConstraint("id", name="pk_grant_session"),
    )
    op.create_index("ix_grant_session_grant_id", "grant_session", ["grant_id"])


def downgrade() -> None:
    op.drop_index("ix_grant_session_grant_id", "grant_session")
    op.drop_table("grant_session")
    op.drop_index("ix_verbal_consent_case_id", "verbal_consent")
    op.drop_table("verbal_consent")
    for index in ("staff_id", "ended_at", "contract_id", "case_id"):
        op.drop_index(f"ix_consent_grant_{index}", "consent_grant")
    op.drop_table("consent_grant")
    for index in ("status", "contract_id", "case_id"):
        op.drop_index(f"ix_access_request_{index}", "access_request")
    op.drop_table("access_request")
    op.drop_index("ix_support_case_contract_id", "support_case")
    op.drop_index("ix_support_case_customer_id", "support_case")
    op.drop_table("support_case")
