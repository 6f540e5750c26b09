"""Every table, in one MetaData. Alembic migrations create them; a test checks the two agree."""

from __future__ import annotations

import sqlalchemy as sa

from entrusted.adapters.db.types import UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("totp_secret", sa.String(64), nullable=True),
    sa.Column("totp_enabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
)

staff_role = sa.Table(
    "staff_role",
    metadata,
    sa.Column(
        "staff_id", sa.String(40), sa.ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("role", sa.String(32), primary_key=True),
)

api_token = sa.Table(
    "api_token",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # personal | service
    sa.Column("staff_id", sa.String(40), sa.ForeignKey("staff.id"), nullable=True),
    sa.Column("service", sa.String(32), nullable=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

login_failure = sa.Table(
    "login_failure",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False, index=True),
    sa.Column("address", sa.String(64), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
)

job_state = sa.Table(
    "job_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_started_at", UTCDateTime, nullable=True),
    sa.Column("last_finished_at", UTCDateTime, nullable=True),
    sa.Column("last_ok", sa.Boolean, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
)

# --- the ledger (RFC 9162 log stored as C2SP tiles; see domain/ledger.py) ----------------------
# Triggers created by migration 0002 refuse UPDATE/DELETE of entries, full tiles and
# checkpoints, and let partial tiles and the tree state only grow.

ledger_entry = sa.Table(
    "ledger_entry",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True, index=True),
)

ledger_full_tile = sa.Table(
    "ledger_full_tile",
    metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)

ledger_partial_tile = sa.Table(
    "ledger_partial_tile",
    metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
)

ledger_state = sa.Table(
    "ledger_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
)

ledger_checkpoint = sa.Table(
    "ledger_checkpoint",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("size", sa.BigInteger, nullable=False, index=True),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("signed_at", UTCDateTime, nullable=False),
)

# --- policy rules deployments ("how we manage these rules") ------------------------------------

policy_deployment = sa.Table(
    "policy_deployment",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rules", sa.LargeBinary, nullable=False),
    sa.Column("source", sa.String(500), nullable=False),
    sa.Column("deployed_by", sa.String(100), nullable=False),
    sa.Column("deployed_at", UTCDateTime, nullable=False),
    sa.Column("summary", sa.String(2000), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
)
