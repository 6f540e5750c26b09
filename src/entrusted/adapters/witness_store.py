"""The witness's own state in a small SQLite file, never the log's database.

A witness runs at another party precisely so that whoever controls the log's database cannot
touch what it remembers. The file holds the logs it trusts, the last head it cosigned per log
(advanced by compare-and-set inside one `BEGIN IMMEDIATE` transaction, so two concurrent
submissions can never roll the record back: tlog-witness's race) and every refusal, kept as
evidence of the log's misbehaviour.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from entrusted.crypto.cosigning import generate_witness_key_file, load_cosigner
from entrusted.crypto.signing import log_origin
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.ports import Clock
from entrusted.services.witness import RefusalKind, Witness, WitnessedHead

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trusted_log (origin TEXT PRIMARY KEY, vkey TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL,
    at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refusal (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, origin TEXT NOT NULL, kind TEXT NOT NULL,
    reason TEXT NOT NULL, request TEXT NOT NULL);
"""
_MAX_KEPT_REQUEST = 1 << 16


class SqliteWitnessStore:
    """`SqliteWitnessStore.create(path)` once (`witness init`), then `SqliteWitnessStore(path)`."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise NotFound("witness state", str(path))
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def create(cls, path: Path) -> SqliteWitnessStore:
        if path.exists():
            raise Conflict(f"witness state {path} already exists; refusing to overwrite it")
        path.touch(mode=0o600, exist_ok=False)
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        return cls(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One connection, one caller at a time: opening the file for every query cost a
        # measurable share of a cosignature. Other processes (`witness trust`) use their own.
        with self._lock:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    self._path, timeout=10.0, isolation_level=None, check_same_thread=False
                )
                # tlog-witness: the new head MUST be persisted before the cosignature leaves.
                self._conn.execute("PRAGMA synchronous=FULL")
            yield self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def trust(self, vkey: str) -> str:
        """Witness the log whose checkpoints `vkey` signs; returns its origin. `vkey` may be
        the log's key list (one vkey per line), as during a signing-key rollover."""
        try:
            origin = log_origin(vkey)
        except InvalidInput as exc:
            raise InvalidInput("log vkey", exc.message) from None
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO trusted_log (origin, vkey) VALUES (?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET vkey = excluded.vkey",
                (origin, vkey),
            )
        return origin

    def trusted_key(self, origin: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT vkey FROM trusted_log WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else str(row[0])

    def latest(self, origin: str) -> WitnessedHead | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else WitnessedHead(int(row[0]), bytes(row[1]))

    def advance(
        self, origin: str, old: WitnessedHead | None, new: WitnessedHead, note: str
    ) -> bool:
        at = datetime.now(UTC).isoformat()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
                ).fetchone()
                current = None if row is None else WitnessedHead(int(row[0]), bytes(row[1]))
                if current != old:
                    conn.execute("ROLLBACK")
                    return False
                conn.execute(
                    "INSERT INTO cosigned (origin, size, root, note, at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
                    "root = excluded.root, note = excluded.note, at = excluded.at",
                    (origin, new.size, new.root, note, at),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return True

    def record_refusal(self, origin: str, kind: RefusalKind, reason: str, request: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO refusal (at, origin, kind, reason, request) VALUES (?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(),
                    origin,
                    kind.name,
                    reason,
                    request[:_MAX_KEPT_REQUEST],
                ),
            )

    def refusals(self) -> list[tuple[str, str, str]]:
        """(origin, kind, reason) of every refusal, oldest first."""
        with self._connect() as conn:
            rows = conn.execute("SELECT origin, kind, reason FROM refusal ORDER BY id").fetchall()
        return [(str(o), str(k), str(r)) for o, k, r in rows]


KEY_FILE = "witness.key"
STATE_FILE = "witness.db"


def init_witness_dir(directory: Path, name: str) -> tuple[str, SqliteWitnessStore]:
    """Create a witness's key and state in `directory` (`witness init`), creating the
    directory (mode 0700: it holds the witness's private key) if it does not exist; returns
    its vkey."""
    if not directory.exists():
        try:
            directory.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise InvalidInput(
                "witness directory", f"cannot create {directory}: {exc.strerror}"
            ) from None
    if not directory.is_dir():
        raise InvalidInput("witness directory", f"{directory} is not a directory")
    if (directory / STATE_FILE).exists():
        raise Conflict(f"{directory / STATE_FILE} already exists; refusing to overwrite it")
    vkey = generate_witness_key_file(directory / KEY_FILE, name)
    return vkey, SqliteWitnessStore.create(directory / STATE_FILE)


def open_witness(directory: Path, clock: Clock) -> tuple[Witness, SqliteWitnessStore]:
    """The witness kept in `directory`: its key and its state, nothing of the log's."""
    store = SqliteWitnessStore(directory / STATE_FILE)
    return Witness(load_cosigner(directory / KEY_FILE), store, clock), store
