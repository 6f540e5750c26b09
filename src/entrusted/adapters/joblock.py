"""Cross-process locks so that each periodic job runs on one instance at a time.

PostgreSQL: a session-level advisory lock on a dedicated connection (several `entrusted serve`
or `entrusted worker` processes may share one database). SQLite: an exclusive `flock` on a file
next to the data, since every process sharing a SQLite file shares its host.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


def _lock_key(name: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"entrusted:{name}".encode()).digest()[:8], "big", signed=True
    )


class PostgresJobLock:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        key = _lock_key(name)
        with self._engine.connect() as conn:
            got = bool(
                conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            )
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()


class FileJobLock:
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
