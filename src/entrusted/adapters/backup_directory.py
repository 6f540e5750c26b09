"""`services.backups.BackupStore` on a local directory (the default: `backup_dir`, or
`backups/` in the data directory). Only ciphertext is ever written here.

An archive is written as `<id>.part` (created exclusively, mode 0600) and renamed to
`<id>.bkp` after an fsync, so a crash or a full disk leaves no file that looks complete; the
directory is 0700 (adapters/file_modes.py). An S3-compatible bucket would implement the same
three methods (a multipart upload completed only on success; a delete of the object).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from entrusted.adapters.file_modes import DIR_MODE, FILE_MODE
from entrusted.crypto.keyfiles import fsync_dir
from entrusted.errors import InvalidInput, NotFound

_ID = re.compile(r"[a-z]{1,8}_[0-9a-f]{1,32}")


class DirectoryBackupStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"DirectoryBackupStore({self.root})"

    @contextmanager
    def writer(self, archive_id: str) -> Iterator[BinaryIO]:
        final, part = self._paths(archive_id)
        self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            part.replace(final)
            fsync_dir(self.root)
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    @contextmanager
    def reader(self, archive_id: str) -> Iterator[BinaryIO]:
        final, _ = self._paths(archive_id)
        try:
            source = final.open("rb")
        except FileNotFoundError:
            raise NotFound("backup file", archive_id) from None
        with source:
            yield source

    def delete(self, archive_id: str) -> bool:
        final, part = self._paths(archive_id)
        existed = final.exists() or part.exists()
        final.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        if existed:
            fsync_dir(self.root)
        return existed

    def _paths(self, archive_id: str) -> tuple[Path, Path]:
        if not _ID.fullmatch(archive_id):
            raise InvalidInput("archive id", "is not an archive id")
        return self.root / f"{archive_id}.bkp", self.root / f"{archive_id}.part"
