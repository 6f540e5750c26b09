"""FTP space passwords in SQL (services/ftp_password.py): one argon2id hash per FTP space.

Setting is one upsert (`INSERT ... ON CONFLICT DO UPDATE`, which SQLite and PostgreSQL both
speak), so two customers' tabs setting the same space's password at once never meet a
duplicate key: the later commit wins, as it would for any other setting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from entrusted.adapters.db import tables as t
from entrusted.domain.registry import ServiceKind

_F = t.ftp_password.c
_S = t.hosted_service.c


class SqlFtpPasswordRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def contract_of(self, service_id: str) -> str | None:
        """The contract hosting the FTP space `service_id`; None if there is no such space."""
        found = self._conn.execute(
            sa.select(_S.contract_id).where(
                _S.id == service_id, _S.kind == ServiceKind.FTP_SPACE.value
            )
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def get(self, service_id: str) -> str | None:
        found = self._conn.execute(
            sa.select(_F.password_hash).where(_F.service_id == service_id)
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def set(self, service_id: str, password_hash: str, at: datetime) -> None:
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(t.ftp_password).values(
            service_id=service_id, password_hash=password_hash, set_at=at
        )
        self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=[_F.service_id],
                set_={"password_hash": password_hash, "set_at": at},
            )
        )

    def clear(self, service_ids: Sequence[str]) -> int:
        if not service_ids:
            return 0
        done = self._conn.execute(t.ftp_password.delete().where(_F.service_id.in_(service_ids)))
        return int(done.rowcount)
