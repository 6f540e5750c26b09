"""Every table, in one MetaData (`schema.py`); the backup and outward tables live in their own
modules and are re-exported here. Alembic migrations create them; a test checks the two agree."""

from __future__ import annotations

import sqlalchemy as sa

from entrusted.adapters.db.schema import metadata
from entrusted.adapters.db.tables_backups import backup_archive, backup_day, backup_key
from entrusted.adapters.db.tables_outward import (
    court_order,
    disclosure,
    mailing,
    mailing_delivery,
    mailing_opt_out,
    policy_document_version,
    third_party_request,
)
from entrusted.adapters.db.tables_provisioning import (
    provisioned_contract,
    provisioned_customer,
    provisioned_service,
)
from entrusted.adapters.db.types import UTCDateTime

__all__ = [  # the tables other modules define, reached as `tables.X` like the rest
    "backup_archive",
    "backup_day",
    "backup_key",
    "court_order",
    "disclosure",
    "mailing",
    "mailing_delivery",
    "mailing_opt_out",
    "metadata",
    "policy_document_version",
    "provisioned_contract",
    "provisioned_customer",
    "provisioned_service",
    "third_party_request",
]


staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    # TOTP seeds are sealed (crypto.totp.SealedSeed): the active one, and one being enrolled
    # that replaces it only once confirmed; the last time step used refuses a replayed code.
    sa.Column("totp_seed", sa.LargeBinary(256), nullable=True),
    sa.Column("totp_pending_seed", sa.LargeBinary(256), nullable=True),
    sa.Column("totp_last_step", sa.BigInteger, nullable=True),
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
    # A staff attempt whose password is still being checked (migration 0009): it counts
    # toward the limits at once, so parallel guesses cannot pass one stale count.
    sa.Column("in_flight", sa.Boolean, nullable=False, server_default=sa.false()),
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
    sa.Column("customer_id", sa.String(64), nullable=True),  # the gate's MAX_ID
    # A customer's entries newest first, one page at a time (the portal's history, issue 18):
    # with `idx` in the index a page reads only its own rows (0022).
    sa.Index("ix_ledger_entry_customer_idx", "customer_id", "idx"),
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

# --- witness cosignatures (services/witness_submit.py, migration 0010) -------------------------

ledger_cosignature = sa.Table(  # one witness's cosignature line over the checkpoint of `size`
    "ledger_cosignature",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("witness", sa.String(255), primary_key=True),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("line", sa.Text, nullable=False),
    sa.Column("cosigned_at", sa.BigInteger, nullable=False),  # the cosignature's POSIX time
)

ledger_witness = sa.Table(  # what each configured witness last cosigned; set when it objects
    "ledger_witness",
    metadata,
    sa.Column("witness", sa.String(255), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("halted_reason", sa.Text, nullable=True),
    sa.Column("halted_at", UTCDateTime, nullable=True),
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

# --- the customer registry (P1, P2): nothing personal in clear --------------------------------
# Personal fields and hosted service names are AES-256-GCM ciphertexts under the customer's
# data key (`wrapped_key`, wrapped by the master key `kek_id`); `*_idx` are keyed blind
# indexes (HMAC-SHA256), the only thing a lookup compares. See crypto/personal.py.

customer = sa.Table(
    "customer",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("kek_id", sa.String(16), nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary(64), nullable=False),
    sa.Column("last_name", sa.LargeBinary, nullable=False),
    sa.Column("first_name", sa.LargeBinary, nullable=False),
    sa.Column("email", sa.LargeBinary, nullable=False),
    sa.Column("email_idx", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("phone", sa.LargeBinary, nullable=True),
    sa.Column("phone_idx", sa.LargeBinary(32), nullable=True, index=True),
    sa.Column("mobile", sa.LargeBinary, nullable=True),
    sa.Column("mobile_idx", sa.LargeBinary(32), nullable=True, index=True),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("password_token_hash", sa.LargeBinary(32), nullable=True, unique=True),
    sa.Column("password_token_expires_at", UTCDateTime, nullable=True),
    # How mails are written to the customer (issue 18); NULL: the configured default.
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("time_zone", sa.String(64), nullable=True),
    # Key rotation pages through one master key's rows in id order.
    sa.Index("ix_customer_kek_id", "kek_id", "id"),
)

# A new contact address waits here until the link mailed to it is opened (services/
# contact_email.py): the address under the customer's data key, its blind index, and only the
# SHA-256 of the link's token. The address in force stays in `customer` meanwhile.
pending_email = sa.Table(
    "pending_email",
    metadata,
    sa.Column("customer_id", sa.String(40), sa.ForeignKey("customer.id"), primary_key=True),
    sa.Column("email", sa.LargeBinary, nullable=False),
    sa.Column("email_idx", sa.LargeBinary(32), nullable=False),
    sa.Column("token_hash", sa.LargeBinary(32), nullable=True, unique=True),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

contract = sa.Table(
    "contract",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "holder_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False, index=True
    ),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("cancelled_at", UTCDateTime, nullable=True),
)

hosted_service = sa.Table(
    "hosted_service",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "contract_id", sa.String(40), sa.ForeignKey("contract.id"), nullable=False, index=True
    ),
    sa.Column("kind", sa.String(16), nullable=False),  # mailbox | ftp_space | website
    sa.Column("name", sa.LargeBinary, nullable=False),
    sa.Column("name_idx", sa.LargeBinary(32), nullable=True, unique=True),  # mailboxes only
    # set when provisioning removed it (migration 0020): kept for the grants naming it, unlisted
    sa.Column("removed_at", UTCDateTime, nullable=True),
)

identification = sa.Table(
    "identification",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False),
    sa.Column("contract_id", sa.String(40), sa.ForeignKey("contract.id"), nullable=True),
    sa.Column("case_id", sa.String(64), nullable=True),
    sa.Column("method", sa.String(16), nullable=False),  # email_code | sms_code | session
    sa.Column("code_hash", sa.LargeBinary(32), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # pending | verified | failed
    sa.Column("staff_id", sa.String(64), nullable=True),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    # The gate's caller_identified check: this customer's recent successes.
    sa.Index("ix_identification_customer_id", "customer_id", "completed_at"),
)

contract_transfer = sa.Table(
    "contract_transfer",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "contract_id", sa.String(40), sa.ForeignKey("contract.id"), nullable=False, index=True
    ),
    sa.Column("from_customer", sa.String(40), sa.ForeignKey("customer.id"), nullable=False),
    sa.Column("to_customer", sa.String(40), sa.ForeignKey("customer.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(64), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
)

customer_session = sa.Table(
    "customer_session",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column(
        "customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False, index=True
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

# An FTP space's own login password (services/ftp_password.py, migration 0013): only its
# argon2id hash, one row per space, set by the space's holder and dropped when the contract
# changes hands, so a former holder keeps no way in.
ftp_password = sa.Table(
    "ftp_password",
    metadata,
    sa.Column("service_id", sa.String(40), sa.ForeignKey("hosted_service.id"), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("set_at", UTCDateTime, nullable=False),
)

# --- support cases and consent (P9, P10, P11) --------------------------------------------------
# Ids, dates, states and the words staff typed (subject, justification); a hosted service is
# named by its id, never by its (encrypted) name. Link and "not me" tokens are SHA-256 only.

support_case = sa.Table(
    "support_case",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False, index=True
    ),
    sa.Column(
        "contract_id", sa.String(40), sa.ForeignKey("contract.id"), nullable=False, index=True
    ),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.Column("resolved_by", sa.String(64), nullable=True),
    sa.Column("reopened_from", sa.String(40), sa.ForeignKey("support_case.id"), nullable=True),
    sa.Column("flagged_at", UTCDateTime, nullable=True),
    sa.Column("flag_reason", sa.String(200), nullable=True),
)

access_request = sa.Table(
    "access_request",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "case_id", sa.String(40), sa.ForeignKey("support_case.id"), nullable=False, index=True
    ),
    sa.Column("customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False),
    sa.Column(
        "contract_id", sa.String(40), sa.ForeignKey("contract.id"), nullable=False, index=True
    ),
    sa.Column("service_id", sa.String(40), sa.ForeignKey("hosted_service.id"), nullable=False),
    sa.Column("service_kind", sa.String(16), nullable=False),
    sa.Column("staff_id", sa.String(64), nullable=False),
    sa.Column("justification", sa.String(500), nullable=False),
    sa.Column("read_only", sa.Boolean, nullable=False),
    sa.Column("sessions", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("link_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("answered_at", UTCDateTime, nullable=True),
    sa.Column("answered_by", sa.String(64), nullable=True),
    sa.Column("grant_id", sa.String(40), nullable=True),
    # The expiry job: pending requests by expiry.
    sa.Index("ix_access_request_status", "status", "expires_at"),
)

consent_grant = sa.Table(
    "consent_grant",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "case_id", sa.String(40), sa.ForeignKey("support_case.id"), nullable=False, index=True
    ),
    sa.Column("customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False),
    sa.Column(
        "contract_id", sa.String(40), sa.ForeignKey("contract.id"), nullable=False, index=True
    ),
    sa.Column("service_id", sa.String(40), sa.ForeignKey("hosted_service.id"), nullable=False),
    sa.Column("service_kind", sa.String(16), nullable=False),
    sa.Column("staff_id", sa.String(64), nullable=False),
    sa.Column("read_only", sa.Boolean, nullable=False),
    sa.Column("max_sessions", sa.Integer, nullable=False),
    sa.Column("sessions_used", sa.Integer, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),  # request | verbal
    sa.Column("source_id", sa.String(40), nullable=False),
    sa.Column("approved_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("first_used_at", UTCDateTime, nullable=True),
    sa.Column("ended_at", UTCDateTime, nullable=True, index=True),
    sa.Column("end_reason", sa.String(32), nullable=True),
    sa.Column("ended_by", sa.String(64), nullable=True),
    # The number of the public policy document version in force when consent was given (P17).
    sa.Column("policy_version", sa.Integer, nullable=True),
    # The gate's active_grant check: exactly this staff member, resource and case.
    sa.Index("ix_consent_grant_staff_id", "staff_id", "service_id", "case_id"),
)

verbal_consent = sa.Table(
    "verbal_consent",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "case_id", sa.String(40), sa.ForeignKey("support_case.id"), nullable=False, index=True
    ),
    sa.Column("customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False),
    sa.Column("staff_id", sa.String(64), nullable=False),
    sa.Column(
        "identification_id", sa.String(40), sa.ForeignKey("identification.id"), nullable=False
    ),
    sa.Column("identification_method", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(500), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("grant_id", sa.String(40), sa.ForeignKey("consent_grant.id"), nullable=False),
    sa.Column("not_me_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("not_me_at", UTCDateTime, nullable=True),
    # One identification, one verbal consent (P11: one-off), race-proof on both databases.
    sa.Index("uq_verbal_consent_identification_id", "identification_id", unique=True),
)

grant_session = sa.Table(
    "grant_session",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "grant_id", sa.String(40), sa.ForeignKey("consent_grant.id"), nullable=False, index=True
    ),
    sa.Column("staff_id", sa.String(64), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
)

# What a staff step under a grant touched, by name (services/grant_steps.py): the name sealed
# under the customer's data key, for their closing summary only; the ledger entry at
# `ledger_index` (the step's allow) names ids only.
grant_step = sa.Table(
    "grant_step",
    metadata,
    sa.Column("ledger_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column(
        "grant_id", sa.String(40), sa.ForeignKey("consent_grant.id"), nullable=False, index=True
    ),
    sa.Column("customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False),
    sa.Column("command", sa.String(16), nullable=False),
    sa.Column("name", sa.LargeBinary, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# --- the outbox (domain/outbox.py): notices queued with the change they report -----------------

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("topic", sa.String(40), nullable=False),
    sa.Column("ref", sa.String(64), nullable=False),  # an id or a blind index, never an address
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.String(300), nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("message_id", sa.String(200), nullable=True),
    # The worker's query: pending notices by due time; the throttle: one topic and ref.
    sa.Index("ix_outbox_status", "status", "next_attempt_at"),
    sa.Index("ix_outbox_topic", "topic", "ref", "created_at"),
)

# --- support look-ups (services/registry_lookup.py): the per-agent throttle's window -----------
# One row per admitted look-up, kept for an hour, so the throttle holds across processes and
# restarts; the staff id and the time only, never whom was looked up.

support_lookup = sa.Table(
    "support_lookup",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("staff_id", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_support_lookup_staff", "staff_id", "at"),
)

# --- backups (services/backups.py, migration 0015, P15, P16) ----------------------------------
