"""The tables of what leaves the provider (P4-P7, P17): the disclosure desk, the versioned
policy document and mailings (migrations 0016-0019), registered in the one MetaData
(`schema.py`); `tables.py` re-exports them."""

from __future__ import annotations

import sqlalchemy as sa

from entrusted.adapters.db.schema import metadata
from entrusted.adapters.db.types import UTCDateTime

# --- the disclosure desk (services/disclosures.py, migration 0016, P4, P5) --------------------
# Customer ids and categories are JSON lists of ids (never personal details). An order's
# document is kept only under its own data key (wrapped by the master key), beside its SHA-256.

third_party_request = sa.Table(
    "third_party_request",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    # sealed (`crypto.documents.seal_text`, bound to `id` and the column's name), P2
    sa.Column("requester", sa.LargeBinary, nullable=False),
    sa.Column("authority", sa.String(500), nullable=False),
    sa.Column("asked", sa.LargeBinary, nullable=False),
    sa.Column("legal_basis", sa.String(500), nullable=False),
    sa.Column("customer_ids", sa.Text, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("answer", sa.String(500), nullable=False),
)

court_order = sa.Table(
    "court_order",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
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
)

disclosure = sa.Table(
    "disclosure",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("court_order.id"), nullable=False),
    sa.Column("customer_ids", sa.Text, nullable=False),
    sa.Column("categories", sa.String(200), nullable=False),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | approved | disclosed
    sa.Column("approved_by", sa.String(64), nullable=True),
    sa.Column("approved_at", UTCDateTime, nullable=True),
    sa.Column("disclosed_at", UTCDateTime, nullable=True),
    sa.Column("notice", sa.String(16), nullable=False),  # none | queued | deferred
    sa.Column("notice_after", sa.Date, nullable=True),
    # The worker's lift: deferred notices by the day they may go out.
    sa.Index("ix_disclosure_notice", "notice", "notice_after"),
)

# --- the public policy document (P17): every version, immutable once published -----------------
policy_document_version = sa.Table(
    "policy_document_version",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("effective", sa.Date, nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("summary", sa.String(500), nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=False),
)

# --- mailings (services/mailings.py, migration 0017, P6, P7) ----------------------------------
# A mailing's text and purpose; one delivery row per recipient (ids only, never an address),
# which is what makes a send resumable without mailing anyone twice. `unsubscribe_digest` is
# the SHA-256 of a new-service message's one-click unsubscribe token (RFC 8058).

mailing = sa.Table(
    "mailing",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("purpose", sa.String(24), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("services", sa.Text, nullable=False),  # space-separated service ids (incidents)
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("recipients", sa.Integer, nullable=False),
)

mailing_delivery = sa.Table(
    "mailing_delivery",
    metadata,
    sa.Column("mailing_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("message_id", sa.String(200), nullable=True),
    sa.Column("error", sa.String(300), nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("unsubscribe_digest", sa.LargeBinary(32), nullable=True, unique=True),
    sa.UniqueConstraint("mailing_id", "customer_id", name="uq_mailing_delivery_recipient"),
    sa.Index("ix_mailing_delivery_status", "mailing_id", "status", "seq"),
)

mailing_opt_out = sa.Table(
    "mailing_opt_out",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
)
