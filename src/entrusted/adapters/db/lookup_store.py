"""The support look-up throttle's window in SQL (services/registry_lookup.py): one row per
admitted look-up, so every process (API server, CLI command, a second server) counts the same
look-ups and a restart forgets nothing."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.locks import hold_xact_lock

_L = t.support_lookup.c
# Built once with bound parameters: every support look-up runs all three.
_ADD = t.support_lookup.insert().values(staff_id=sa.bindparam("v"), at=sa.bindparam("at"))
_SINCE = (
    sa.select(_L.at)
    .where(_L.staff_id == sa.bindparam("v"), _L.at > sa.bindparam("at"))
    .order_by(_L.at)
)
_PRUNE = t.support_lookup.delete().where(
    _L.staff_id == sa.bindparam("v"), _L.at <= sa.bindparam("at")
)


class SqlLookupRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def hold(self, staff_id: str) -> None:
        """Queue this staff member's concurrent look-ups behind this unit, so two of them never
        count the same window (SQLite's writing unit already holds the only write lock; on
        PostgreSQL at READ COMMITTED a transaction advisory lock, released at its end)."""
        if self._conn.dialect.name == "postgresql":
            hold_xact_lock(self._conn, f"support-lookup:{staff_id}")

    def add(self, staff_id: str, at: datetime) -> None:
        self._conn.execute(_ADD, {"v": staff_id, "at": at})

    def since(self, staff_id: str, since: datetime) -> list[datetime]:
        return list(self._conn.execute(_SINCE, {"v": staff_id, "at": since}).scalars())

    def prune(self, staff_id: str, until: datetime) -> None:
        self._conn.execute(_PRUNE, {"v": staff_id, "at": until})
