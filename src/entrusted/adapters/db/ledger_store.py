"""The ledger on SQL: entries plus C2SP tiles, appended in batches by one sequencer.

The sequencer keeps only the compact range and the partial tile of each level in memory; an
append costs one leaf hash, about one node hash, and a few row writes per *batch*. Proofs fold
at most 128 stored hashes per sibling from O(log n) tiles, never rehashing the log. Full tiles
never change, so they are cached forever. On PostgreSQL an advisory lock taken inside each
batch transaction makes several processes share one consistent sequence: a process that finds
the stored size moved under it reloads its state from the tiles before appending.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import is_sqlite
from entrusted.adapters.db.ledger_batch import (
    SEQUENCER_LOCK,
    lock_and_read_size,
    tile_writes,
    write_and_commit,
)
from entrusted.domain.audit import Receipt
from entrusted.domain.ledger import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TILE_LEVEL,
    TILE_HEIGHT,
    TILE_WIDTH,
    CompactRange,
    GetNode,
    consistency_proof,
    inclusion_proof,
    subtree_root,
    verify_consistency,
)
from entrusted.domain.tiles import (
    locate_node,
    max_tile_index,
    node_from_tile_hashes,
)
from entrusted.errors import Conflict, NotFound, TamperDetected, Unavailable

FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
_sha256 = hashlib.sha256
_LOCK_AND_SYNC = sa.text(
    "SELECT pg_advisory_xact_lock(:k), set_config('synchronous_commit', 'on', true)"
)
_Conn = Callable[[], sa.Connection]  # a connection, opened on first call
TILE_CACHE_SIZE = 8192  # full tiles (8 KiB each): 64 MiB covers every tile of a 2M-entry log


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    signed_at: datetime


class SqlLedgerStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._sqlite = is_sqlite(engine)
        self._lock = threading.Lock()
        self._cr = CompactRange()
        self._partials: dict[int, tuple[int, bytes]] = {}
        self._rows: set[int] = set()  # levels whose partial row exists
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._raw: Any = None  # the writer's connection while `holding_connection`
        self._holding = False

    # --- start-up -------------------------------------------------------------------------

    def open(self) -> None:
        """Load the sequencer state from the tiles and refuse to run on a log that does not
        reproduce its own stored root. The state, the tiles and the last checkpoint are read
        in one snapshot (SQLite's read transaction, PostgreSQL REPEATABLE READ): another
        process appending meanwhile would otherwise show a size older than its partial
        tiles, and a healthy log would be refused as tampered."""
        with self._lock, self._engine.connect() as conn:
            if not self._sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                self._load(conn)

    def _load(self, conn: sa.Connection) -> None:
        state = conn.execute(sa.select(t.ledger_state.c.size, t.ledger_state.c.root)).first()
        size, root = (0, EMPTY_ROOT) if state is None else (int(state.size), bytes(state.root))
        partials: dict[int, tuple[int, bytes]] = {}
        for row in conn.execute(sa.select(t.ledger_partial_tile)):
            partials[int(row.level)] = (int(row.idx), bytes(row.hashes))
        try:
            cr = CompactRange.from_nodes(size, lambda h, i: self._node(lambda: conn, h, i))
        except (NotFound, ValueError) as exc:
            raise TamperDetected(
                f"ledger tiles cannot rebuild the tree of size {size}: {exc}"
            ) from None
        if cr.root() != root:
            raise TamperDetected(f"ledger tiles do not reproduce the stored root at size {size}")
        self._check_partials(size, partials)
        last = conn.execute(
            sa.select(t.ledger_checkpoint.c.size, t.ledger_checkpoint.c.root)
            .order_by(t.ledger_checkpoint.c.id.desc())
            .limit(1)
        ).first()
        if last is not None:
            old_size, old_root = int(last.size), bytes(last.root)
            ok = old_size <= size and verify_consistency(
                old_size,
                size,
                old_root,
                root,
                consistency_proof(old_size, size, lambda h, i: self._node(lambda: conn, h, i)),
            )
            if not ok:
                raise TamperDetected(
                    f"the log at size {size} is not consistent with the last signed checkpoint "
                    f"(size {old_size})"
                )
        self._cr, self._partials, self._rows = cr, partials, set(partials)

    @staticmethod
    def _check_partials(size: int, partials: dict[int, tuple[int, bytes]]) -> None:
        level_count = size
        for level in range(len(partials) + 1):
            idx, hashes = partials.get(level, (0, b""))
            full, rest = divmod(level_count, TILE_WIDTH)
            if level in partials and (idx != full or len(hashes) != rest * HASH_SIZE):
                raise TamperDetected(f"partial tile at level {level} disagrees with size {size}")
            level_count >>= TILE_HEIGHT

    # --- appends --------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._cr.size

    def root(self) -> bytes:
        return self._cr.root()

    def append_batch(self, items: Sequence[tuple[bytes, str | None]]) -> list[Receipt]:
        """Durably append `(body, customer_id)` items in one transaction; receipts only after
        the commit. On any failure nothing is acknowledged and the in-memory state is kept."""
        if not items:
            return []
        with self._lock:
            try:
                return self._append_locked(items)
            except (SQLAlchemyError, OSError, self._engine.dialect.loaded_dbapi.Error) as exc:
                detail = getattr(exc, "orig", exc).__class__.__name__
                raise Unavailable(
                    f"ledger append failed ({detail}); nothing was recorded"
                ) from None

    def _append_locked(self, items: Sequence[tuple[bytes, str | None]]) -> list[Receipt]:
        """One batch as driver-level statements (`ledger_batch`), on the writer's own
        connection while it holds one (a pool checkout each batch cost more Python than the
        statements); a failed batch throws its connection away, so nothing half-done stays."""
        raw = self._raw if self._raw is not None else self._engine.raw_connection()
        driver = raw.driver_connection
        cur = driver.cursor()  # type: ignore[union-attr]  # a live DBAPI connection
        try:
            receipts = self._append_on(driver, cur, items)
        except BaseException:
            cur.close()
            if raw is self._raw:
                self._raw = None
            # Closed, so a half-done transaction is discarded; if even that fails, the
            # connection is being thrown away anyway.
            with suppress(Exception):
                raw.invalidate()
            raise
        cur.close()
        if self._holding:
            self._raw = raw
        else:  # nothing is held outside `holding_connection` (it clears under the lock)
            raw.close()
        return receipts

    @contextmanager
    def holding_connection(self) -> Iterator[None]:
        """While the writer runs, its batches keep one driver connection between them instead
        of a checkout each; it goes back to the pool when the writer stops."""
        self._holding = True
        try:
            yield
        finally:
            with self._lock:
                self._holding = False
                raw, self._raw = self._raw, None
                if raw is not None:
                    raw.close()

    def _append_on(
        self, driver: Any, cur: Any, items: Sequence[tuple[bytes, str | None]]
    ) -> list[Receipt]:
        stored = lock_and_read_size(driver, cur, self._sqlite)
        if (stored or 0) != self._cr.size:
            with self._engine.connect() as conn:  # our lock keeps other writers out
                self._load(conn)  # another process appended since we last looked
        cr = self._cr.copy()
        start = cr.size
        sha = _sha256
        hashes = [sha(b"\x00" + body).digest() for body, _ in items]
        by_level: dict[int, list[bytes]] = {0: hashes}
        for height, _index, h in cr.extend_tiles(hashes):
            by_level.setdefault(height // TILE_HEIGHT, []).append(h)
        partials = dict(self._partials)
        full: list[tuple[int, int, bytes]] = []
        for level, level_hashes in by_level.items():
            tile, buf = partials.get(level, (0, b""))
            buf += b"".join(level_hashes)
            while len(buf) >= FULL_TILE_BYTES:
                full.append((level, tile, buf[:FULL_TILE_BYTES]))
                tile, buf = tile + 1, buf[FULL_TILE_BYTES:]
            partials[level] = (tile, buf)
        rows = [(start + i, body, owner) for i, (body, owner) in enumerate(items)]
        first = start == 0 and stored is None
        writes = tile_writes(
            self._partials, self._rows, full, partials, (cr.size, cr.root()), first
        )
        write_and_commit(driver, cur, self._sqlite, rows, writes)
        self._cr, self._partials, self._rows = cr, partials, set(partials)
        return [Receipt(start + i, h) for i, h in enumerate(hashes)]

    # --- reads ----------------------------------------------------------------------------

    def _tile(self, conn: _Conn, level: int, idx: int, need: int = 1) -> bytes:
        """At least `need` hashes of tile (level, idx), from the cache when it holds them.

        Partial tiles are cached too: they only grow, so a cached prefix stays right for every
        size it covers, and is read again only when a larger size needs more of it. With the
        upper levels and the growing edge cached, a proof costs about one cold tile read.
        """
        key = (level, idx)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                if len(cached) >= need * HASH_SIZE:
                    return cached
        full_q = sa.select(t.ledger_full_tile.c.hashes).where(
            t.ledger_full_tile.c.level == level, t.ledger_full_tile.c.idx == idx
        )
        partial_q = sa.select(t.ledger_partial_tile.c.hashes).where(
            t.ledger_partial_tile.c.level == level, t.ledger_partial_tile.c.idx == idx
        )
        partial = None
        full = conn().execute(full_q).scalar()
        if full is None:
            partial = conn().execute(partial_q).scalar()
            if partial is None:
                # The two reads are separate statements: a writer (another process) may have
                # completed this tile in between, moving it from the partial to the full table.
                full = conn().execute(full_q).scalar()
                if full is None:
                    raise NotFound("ledger tile", f"{level}/{idx}")
        if full is not None:
            data = bytes(full)
            if len(data) != FULL_TILE_BYTES:
                raise TamperDetected(f"full tile {level}/{idx} has {len(data)} bytes")
        else:
            assert partial is not None
            data = bytes(partial)
        with self._cache_lock:
            self._cache[key] = data
            if len(self._cache) > TILE_CACHE_SIZE:
                self._cache.popitem(last=False)
        return data

    def _node(self, conn: _Conn, height: int, index: int) -> bytes:
        loc = locate_node(height, index)
        data = self._tile(conn, loc.level, loc.tile, loc.first + loc.span)
        return node_from_tile_hashes(data, loc.first, loc.span)

    @contextmanager
    def _reading(self) -> Iterator[GetNode]:
        """A node oracle that connects to the database only if the cache falls short."""
        with ExitStack() as stack:
            opened: list[sa.Connection] = []

            def conn() -> sa.Connection:
                if not opened:
                    opened.append(stack.enter_context(self._engine.connect()))
                return opened[0]

            yield lambda h, i: self._node(conn, h, i)

    def tile(self, level: int, idx: int, width: int | None) -> bytes:
        """A C2SP tile: the full tile, or the first `width` hashes of a (possibly now full) one."""
        if not 0 <= level <= MAX_TILE_LEVEL or not 0 <= idx <= max_tile_index(level):
            raise NotFound("ledger tile", f"{level}/{idx}")  # no tree holds it (nor a BIGINT)
        with self._engine.connect() as conn:
            data = self._tile(lambda: conn, level, idx, width or TILE_WIDTH)
        if width is None:
            if len(data) != FULL_TILE_BYTES:
                raise NotFound("ledger tile", f"{level}/{idx}")
            return data
        if len(data) < width * HASH_SIZE:
            raise NotFound("ledger tile", f"{level}/{idx}.p/{width}")
        return data[: width * HASH_SIZE]

    def root_at(self, size: int) -> bytes:
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        with self._reading() as node:
            return subtree_root(0, size, node)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        if not 0 <= index < size:
            raise NotFound("ledger entry", index)
        with self._reading() as node:
            return inclusion_proof(index, size, node)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise NotFound("ledger size", old_size)
        with self._reading() as node:
            return consistency_proof(old_size, new_size, node)

    def _check_size(self, size: int) -> None:
        # Sizes this process committed are known to exist; only larger ones need asking.
        if not 0 <= size <= self._cr.size and not 0 <= size <= self.stored_size():
            raise NotFound("ledger size", size)

    def stored_size(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(t.ledger_state.c.size)).scalar() or 0)

    def entries(self, start: int, end: int) -> list[bytes]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.ledger_entry.c.body)
                .where(t.ledger_entry.c.idx >= start, t.ledger_entry.c.idx < end)
                .order_by(t.ledger_entry.c.idx)
            ).scalars()
            return [bytes(b) for b in rows]

    def entries_for_customer(self, customer_id: str, below: int) -> list[tuple[int, bytes]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.ledger_entry.c.idx, t.ledger_entry.c.body)
                .where(t.ledger_entry.c.customer_id == customer_id, t.ledger_entry.c.idx < below)
                .order_by(t.ledger_entry.c.idx)
            )
            return [(int(r.idx), bytes(r.body)) for r in rows]

    def customer_page(
        self, customer_id: str, before: int | None, limit: int
    ) -> list[tuple[int, bytes]]:
        """At most `limit` of the customer's entries below index `before` (None: the newest),
        newest first: one page of the portal's access history, read through the `customer_id`
        index. No bound needs no read of the stored size first: an entry is committed with
        the size that covers it, so every row a reader sees lies below the size it would see."""
        e = t.ledger_entry.c
        query = sa.select(e.idx, e.body).where(e.customer_id == customer_id)
        if before is not None:
            query = query.where(e.idx < before)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(e.idx.desc()).limit(limit))
            return [(int(r.idx), bytes(r.body)) for r in rows]

    # --- checkpoints ----------------------------------------------------------------------

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.ledger_checkpoint).order_by(t.ledger_checkpoint.c.id))
            return [
                StoredCheckpoint(int(r.size), bytes(r.root), str(r.note), r.signed_at) for r in rows
            ]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._engine.connect() as conn:
            r = conn.execute(
                sa.select(t.ledger_checkpoint).order_by(t.ledger_checkpoint.c.id.desc()).limit(1)
            ).first()
        return (
            None
            if r is None
            else StoredCheckpoint(int(r.size), bytes(r.root), str(r.note), r.signed_at)
        )

    def add_checkpoint(self, size: int, root: bytes, note: str, signed_at: datetime) -> None:
        """Store a signed checkpoint, refusing in the same transaction (under the sequencer's
        lock, so no append or other signer moves in between) one that is smaller than, or not
        consistent with, the largest checkpoint stored: a signer that lost a race, or one
        handed a rewritten log, can never make the sequence go backwards."""
        sqlite = is_sqlite(self._engine)
        try:
            # The sequencer's own lock first: in this process the writer thread hands over
            # between batches instead of starving the database's busy-wait.
            with self._lock, self._engine.connect() as conn:
                if sqlite:
                    conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    if not sqlite:
                        conn.execute(_LOCK_AND_SYNC, {"k": SEQUENCER_LOCK})
                    self._check_against_largest(conn, size, root)
                    conn.execute(
                        t.ledger_checkpoint.insert().values(
                            size=size, root=root, note=note, signed_at=signed_at
                        )
                    )
        except SQLAlchemyError as exc:
            raise Unavailable(f"checkpoint not stored ({exc.__class__.__name__})") from None

    def _check_against_largest(self, conn: sa.Connection, size: int, root: bytes) -> None:
        cp = t.ledger_checkpoint.c
        largest = conn.execute(
            sa.select(cp.size, cp.root).order_by(cp.size.desc(), cp.id.desc()).limit(1)
        ).first()
        if largest is None:
            return
        old_size, old_root = int(largest.size), bytes(largest.root)
        stored = int(conn.execute(sa.select(t.ledger_state.c.size)).scalar() or 0)
        if size < old_size or size > stored:
            raise Conflict(
                f"checkpoint of size {size} refused: the largest signed checkpoint has size "
                f"{old_size} and the log {stored}"
            )
        proof = consistency_proof(old_size, size, lambda h, i: self._node(lambda: conn, h, i))
        if not verify_consistency(old_size, size, old_root, root, proof):
            raise TamperDetected(
                f"checkpoint of size {size} refused: not consistent with the largest signed "
                f"checkpoint (size {old_size})"
            )
