"""Driver-level reads for whole-log scans, inside one read-only snapshot.

An audit reads every entry, so per-row overhead decides whether 1e8 entries take minutes or
hours: rows come straight from the DBAPI cursor (SQLAlchemy's result rows cost more than the
hash of the entry), a chunk of whole tiles at a time. On PostgreSQL the server produces the
next chunk while Python hashes the current one (a prefetch thread waiting on the socket
releases the GIL); SQLite builds rows under the GIL, where prefetching measured no gain.
The snapshot (SQLite's read transaction, PostgreSQL REPEATABLE READ) makes appends running
meanwhile invisible, so they neither disturb the result nor wait for it.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from entrusted.adapters.db.engine import is_sqlite
from entrusted.domain.ledger import TILE_WIDTH

Row = tuple[Any, ...]
Chunk = tuple[int, int, list[Row], list[Row]]
"""`(lo, hi, entries, tiles)`: the entry rows `(idx, body, customer_id)` with lo <= idx < hi and
the full level-0 tile rows `(idx, hashes)` over them, each sorted by idx."""

_SNAPSHOT_ID = re.compile(r"[0-9A-F]{1,16}(-[0-9A-F]{1,16}){1,3}")
_ENTRIES = (
    "SELECT idx, body, customer_id FROM ledger_entry WHERE idx >= %s AND idx < %s ORDER BY idx"
)
_TILES = (
    "SELECT idx, hashes FROM ledger_full_tile WHERE level = 0 AND idx >= %s AND idx < %s "
    "ORDER BY idx"
)


class SnapshotReader:
    """Runs SQL (written with `%s` placeholders) and returns plain tuples. Thread-safe."""

    def __init__(self, conn: sa.Connection) -> None:
        self._raw: Any = conn.connection.driver_connection
        self.sqlite = is_sqlite(conn.engine)
        self._lock = threading.Lock()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        with self._lock:
            if self.sqlite:
                return list(self._raw.execute(sql.replace("%s", "?"), params).fetchall())
            with self._raw.cursor(binary=True) as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())

    def export(self) -> str | None:
        """An id under which another process can read this very snapshot (PostgreSQL's
        `pg_export_snapshot`, valid while this one is open); None on SQLite, which has none."""
        return None if self.sqlite else str(self.rows("SELECT pg_export_snapshot()")[0][0])

    def chunks(self, size: int, tiles_per_chunk: int, start: int = 0) -> Iterator[Chunk]:
        """The entries [start, size) and their level-0 tiles, a chunk of whole tiles at a time
        (`start` is the first entry of a tile)."""
        step = tiles_per_chunk * TILE_WIDTH
        bounds = [(lo, min(size, lo + step)) for lo in range(start, size, step)]
        if self.sqlite:
            yield from map(self._chunk, bounds)
        else:
            yield from self._prefetched(bounds)

    def _chunk(self, bounds: tuple[int, int]) -> Chunk:
        lo, hi = bounds
        tiles = self.rows(_TILES, (lo // TILE_WIDTH, hi // TILE_WIDTH))
        return lo, hi, self.rows(_ENTRIES, (lo, hi)), tiles

    def _prefetched(self, bounds: list[tuple[int, int]]) -> Iterator[Chunk]:
        ready: queue.Queue[Chunk | BaseException | None] = queue.Queue(2)
        stop = threading.Event()

        def put(item: Chunk | BaseException | None) -> None:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                for lo, hi in bounds:
                    if stop.is_set():
                        return
                    put(self._chunk((lo, hi)))
                put(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer to re-raise
                put(exc)

        producer = threading.Thread(target=produce, name="ledger-scan", daemon=True)
        producer.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            producer.join()


@contextmanager
def snapshot(engine: sa.Engine, exported: str | None = None) -> Iterator[SnapshotReader]:
    """A reader over one consistent, read-only view of the database; on PostgreSQL, given
    `exported` (another reader's `export()`), the very view that reader has."""
    with engine.connect() as conn:
        if not is_sqlite(engine):
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if not is_sqlite(engine):
                if exported is not None:  # before any query, as PostgreSQL requires
                    if not _SNAPSHOT_ID.fullmatch(exported):  # a utility statement: no binding
                        raise ValueError(f"not an exported snapshot id: {exported!r}")
                    conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{exported}'")
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield SnapshotReader(conn)
