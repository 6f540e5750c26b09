"""The signed local record of the ledger, as a file in the data directory.

It lives outside the database on purpose: a database thief who deletes checkpoints and
truncates the log cannot also rewrite this file without the signing key, so the signer and
start-up see the rollback. The file is signed with the ledger key (a signed note whose body is
not a checkpoint), written atomically (temporary file, fsync, rename), and any file that does
not verify is tampering, not a reason to start afresh.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from entrusted.crypto.keyfiles import fsync_dir, write_all
from entrusted.crypto.signing import Signer, verify_note_body
from entrusted.domain.checkpoint import LocalRecord, parse_local_record, parse_signed_note
from entrusted.errors import TamperDetected

MAX_RECORD_BYTES = 64 << 10


class LocalRecordFile:
    """`load()` the record (None if this installation never wrote one), `save()` a new one."""

    def __init__(self, path: Path, signer: Signer) -> None:
        self._path = path
        self._signer = signer

    @property
    def path(self) -> Path:
        return self._path

    def load(self) -> LocalRecord | None:
        try:
            with self._path.open("rb") as fh:
                raw = fh.read(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            body, _ = parse_signed_note(raw.decode("utf-8"))
            record = parse_local_record(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TamperDetected(
                f"the local ledger record {self._path} is malformed: {exc}"
            ) from None
        try:
            verify_note_body(raw.decode("utf-8"), self._signer.key_list)
        except TamperDetected:
            pass  # reported below, naming the file
        else:
            if record.origin == self._signer.name:
                return record
        raise TamperDetected(f"the local ledger record {self._path} is not signed by the log key")

    def save(self, record: LocalRecord) -> None:
        text = self._signer.sign_note(record.body())
        tmp = self._path.with_name(f"{self._path.name}.{os.getpid()}.{threading.get_ident()}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self._path)
        fsync_dir(self._path.parent)
