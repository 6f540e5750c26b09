"""The backup catalogue's tables (P15, P16; migration 0015), registered in the one MetaData
(`schema.py`); `tables.py` re-exports them."""

from __future__ import annotations

import sqlalchemy as sa

from entrusted.adapters.db.schema import metadata
from entrusted.adapters.db.types import UTCDateTime

# `backup_key` is the only place a day's key exists (wrapped by the master key); deleting its
# row destroys every archive of the day. `backup_day` keeps the key's public facts (id and
# commitment) as evidence after it is gone. An archive's data key, wrapped by its day's key,
# is dropped at destruction too.

backup_day = sa.Table(
    "backup_day",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("commitment", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("destroy_after", UTCDateTime, nullable=False),
    sa.Column("destroyed_at", UTCDateTime, nullable=True),
    sa.Column("evidence_recorded", sa.Boolean, nullable=False),
)

backup_key = sa.Table(
    "backup_key",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kek_id", sa.String(16), nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary(64), nullable=False),
)

backup_archive = sa.Table(
    "backup_archive",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("customer_id", sa.String(40), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),  # mailbox | ftp_space | website | record
    sa.Column("service_id", sa.String(40), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # writing | complete | failed | destroyed
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("destroy_after", UTCDateTime, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("wrapped_dek", sa.LargeBinary(64), nullable=True),  # None once destroyed
    sa.Column("destroyed_at", UTCDateTime, nullable=True),
)
