"""In-memory twins of the backup ports (`BackupCatalog`, `BackupStore`) for service tests;
production wires the SQL catalogue and the directory store, never these."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime

from entrusted.crypto.envelope import WrappedKey
from entrusted.domain.backups import Archive, ArchiveStatus, DayKey
from entrusted.errors import NotFound


class InMemoryBackupCatalog:
    def __init__(self) -> None:
        self.keys: dict[date, WrappedKey] = {}
        self.days_: dict[date, DayKey] = {}
        self.rows: dict[str, Archive] = {}
        self.deks: dict[str, WrappedKey | None] = {}

    def day_key(self, day: date) -> tuple[DayKey, WrappedKey] | None:
        if day not in self.keys:
            return None
        return self.days_[day], self.keys[day]

    def add_day_key(self, key: DayKey, wrapped: WrappedKey) -> bool:
        if key.day in self.days_:
            return False
        self.days_[key.day], self.keys[key.day] = key, wrapped
        return True

    def days(self) -> list[DayKey]:
        return [self.days_[d] for d in sorted(self.days_)]

    def destroy_day(self, day: date, at: datetime) -> list[str]:
        self.keys.pop(day, None)
        if day in self.days_ and self.days_[day].destroyed_at is None:
            self.days_[day] = replace(self.days_[day], destroyed_at=at)
        ids = [a.id for a in self.rows.values() if a.day == day]
        for archive_id in ids:
            row = self.rows[archive_id]
            self.rows[archive_id] = replace(
                row, status=ArchiveStatus.DESTROYED, destroyed_at=row.destroyed_at or at
            )
            self.deks[archive_id] = None
        return ids

    def mark_evidence(self, day: date) -> None:
        self.days_[day] = replace(self.days_[day], evidence_recorded=True)

    def add_archive(self, archive: Archive, wrapped_dek: WrappedKey) -> None:
        self.rows[archive.id], self.deks[archive.id] = archive, wrapped_dek

    def finish_archive(self, archive_id: str, size: int, chunks: int, sha256: str) -> None:
        row = self.rows[archive_id]
        if row.status is ArchiveStatus.WRITING:
            self.rows[archive_id] = replace(
                row, status=ArchiveStatus.COMPLETE, size=size, chunks=chunks, sha256=sha256
            )

    def fail_archive(self, archive_id: str) -> None:
        row = self.rows[archive_id]
        if row.status is ArchiveStatus.WRITING:
            self.rows[archive_id] = replace(row, status=ArchiveStatus.FAILED)

    def get(self, archive_id: str) -> Archive | None:
        return self.rows.get(archive_id)

    def wrapped_dek(self, archive_id: str) -> WrappedKey | None:
        return self.deks.get(archive_id)

    def archives(self, customer_id: str | None = None, day: date | None = None) -> list[Archive]:
        return sorted(
            (
                a
                for a in self.rows.values()
                if (customer_id is None or a.customer_id == customer_id)
                and (day is None or a.day == day)
            ),
            key=lambda a: (a.created_at, a.id),
        )


class InMemoryBackupStore:
    """Bytes by archive id; a write that raises leaves nothing, as the directory store."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    @contextmanager
    def writer(self, archive_id: str) -> Iterator[io.BytesIO]:
        buffer = io.BytesIO()
        yield buffer
        self.blobs[archive_id] = buffer.getvalue()

    @contextmanager
    def reader(self, archive_id: str) -> Iterator[io.BytesIO]:
        if archive_id not in self.blobs:
            raise NotFound("backup file", archive_id)
        yield io.BytesIO(self.blobs[archive_id])

    def delete(self, archive_id: str) -> bool:
        return self.blobs.pop(archive_id, None) is not None
