"""`services.backups.BackupCatalog` on SQL: the archives, the day keys and their evidence.

Each method is its own short transaction: a backup run writes for minutes and must not hold
SQLite's one write lock meanwhile. Destroying a day is one transaction (key row, wrapped data
keys, archive states) so no half-destroyed day is ever visible. On SQLite the destroying
connection turns on `secure_delete` (freed pages are zeroed) and the WAL is truncated after
the commit, so the deleted key does not linger in the database files; on PostgreSQL the old
row version lingers until VACUUM reuses its space (docs/backups.md says so).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import is_sqlite
from entrusted.crypto.envelope import WrappedKey
from entrusted.domain.backups import Archive, ArchiveStatus, DayKey, Source
from entrusted.errors import Unavailable

_A = t.backup_archive.c
_D = t.backup_day.c
_K = t.backup_key.c


class SqlBackupCatalog:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    # --- day keys ---------------------------------------------------------------------------

    def day_key(self, day: date) -> tuple[DayKey, WrappedKey] | None:
        query = (
            sa.select(t.backup_day, _K.kek_id, _K.wrapped_key)
            .join(t.backup_key, _K.day == _D.day)
            .where(_D.day == day)
        )
        with self._connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return _day(row), WrappedKey(row.kek_id, bytes(row.wrapped_key))

    def add_day_key(self, key: DayKey, wrapped: WrappedKey) -> bool:
        """Store a new day key; False if another process stored that day's key first."""
        try:
            with self._connect() as conn, conn.begin():
                conn.execute(
                    t.backup_day.insert().values(
                        day=key.day,
                        key_id=key.key_id,
                        commitment=key.commitment,
                        created_at=key.created_at,
                        destroy_after=key.destroy_after,
                        destroyed_at=None,
                        evidence_recorded=False,
                    )
                )
                conn.execute(
                    t.backup_key.insert().values(
                        day=key.day, kek_id=wrapped.kek_id, wrapped_key=wrapped.blob
                    )
                )
        except IntegrityError:
            return False
        return True

    def days(self) -> list[DayKey]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(t.backup_day).order_by(_D.day)).all()
        return [_day(r) for r in rows]

    def destroy_day(self, day: date, at: datetime) -> list[str]:
        sqlite = is_sqlite(self._engine)
        with self._connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
                conn.commit()
            with conn.begin():
                # Overwrite, then delete: the row's bytes do not survive in place.
                conn.execute(
                    t.backup_key.update().where(_K.day == day).values(wrapped_key=bytes(41))
                )
                conn.execute(t.backup_key.delete().where(_K.day == day))
                ids = [
                    str(i) for i in conn.execute(sa.select(_A.id).where(_A.day == day)).scalars()
                ]
                conn.execute(
                    t.backup_archive.update()
                    .where(_A.day == day)
                    .values(
                        status=ArchiveStatus.DESTROYED.value,
                        wrapped_dek=None,
                        destroyed_at=sa.func.coalesce(_A.destroyed_at, at),
                    )
                )
                conn.execute(
                    t.backup_day.update()
                    .where(_D.day == day, _D.destroyed_at.is_(None))
                    .values(destroyed_at=at)
                )
            if sqlite:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # best effort
                conn.commit()
        return ids

    def mark_evidence(self, day: date) -> None:
        with self._connect() as conn, conn.begin():
            conn.execute(t.backup_day.update().where(_D.day == day).values(evidence_recorded=True))

    # --- archives ---------------------------------------------------------------------------

    def add_archive(self, archive: Archive, wrapped_dek: WrappedKey) -> None:
        with self._connect() as conn, conn.begin():
            conn.execute(
                t.backup_archive.insert().values(
                    id=archive.id,
                    day=archive.day,
                    customer_id=archive.customer_id,
                    source=archive.source.value,
                    service_id=archive.service_id,
                    status=archive.status.value,
                    created_at=archive.created_at,
                    destroy_after=archive.destroy_after,
                    size=0,
                    chunks=0,
                    sha256=None,
                    wrapped_dek=wrapped_dek.blob,
                    destroyed_at=None,
                )
            )

    def finish_archive(self, archive_id: str, size: int, chunks: int, sha256: str) -> None:
        self._set(
            archive_id,
            ArchiveStatus.WRITING,
            status=ArchiveStatus.COMPLETE.value,
            size=size,
            chunks=chunks,
            sha256=sha256,
        )

    def fail_archive(self, archive_id: str) -> None:
        self._set(archive_id, ArchiveStatus.WRITING, status=ArchiveStatus.FAILED.value)

    def get(self, archive_id: str) -> Archive | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(t.backup_archive).where(_A.id == archive_id)).first()
        return None if row is None else _archive(row)

    def wrapped_dek(self, archive_id: str) -> WrappedKey | None:
        query = (
            sa.select(_A.wrapped_dek, _D.key_id)
            .join(t.backup_day, _D.day == _A.day)
            .where(_A.id == archive_id)
        )
        with self._connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.wrapped_dek is None:
            return None
        return WrappedKey(row.key_id, bytes(row.wrapped_dek))

    def archives(self, customer_id: str | None = None, day: date | None = None) -> list[Archive]:
        query = sa.select(t.backup_archive).order_by(_A.created_at, _A.id)
        if customer_id is not None:
            query = query.where(_A.customer_id == customer_id)
        if day is not None:
            query = query.where(_A.day == day)
        with self._connect() as conn:
            return [_archive(r) for r in conn.execute(query)]

    def customer_ids(self) -> list[str]:
        """Every customer on file, for a run's plan."""
        with self._connect() as conn:
            return [
                str(i)
                for i in conn.execute(
                    sa.select(t.customer.c.id).order_by(t.customer.c.id)
                ).scalars()
            ]

    def _set(self, archive_id: str, expected: ArchiveStatus, **values: Any) -> None:
        with self._connect() as conn, conn.begin():
            conn.execute(
                t.backup_archive.update()
                .where(_A.id == archive_id, _A.status == expected.value)
                .values(**values)
            )

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig.__class__.__name__}") from None


def _day(row: Any) -> DayKey:
    return DayKey(
        day=row.day,
        key_id=row.key_id,
        commitment=row.commitment,
        created_at=row.created_at,
        destroy_after=row.destroy_after,
        destroyed_at=row.destroyed_at,
        evidence_recorded=bool(row.evidence_recorded),
    )


def _archive(row: Any) -> Archive:
    return Archive(
        id=row.id,
        day=row.day,
        customer_id=row.customer_id,
        source=Source(row.source),
        service_id=row.service_id,
        status=ArchiveStatus(row.status),
        created_at=row.created_at,
        destroy_after=row.destroy_after,
        size=int(row.size),
        chunks=int(row.chunks),
        sha256=row.sha256,
        destroyed_at=row.destroyed_at,
    )
