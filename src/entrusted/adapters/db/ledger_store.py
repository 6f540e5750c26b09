"""The ledger on SQL: entries plus C2SP tiles, appended in batches by one sequencer.

The sequencer keeps only the compact range and the partial tile of each level in memory; an
append costs one leaf hash, about one node hash, and a few row writes per *batch*. Proofs fold
at most 128 stored hashes per sibling from O(log n) tiles, never rehashing the log. Full tiles
never change, so they are cached forever. On PostgreSQL an advisory lock taken inside each
batch transaction makes several processes share one consistent sequence: a process that finds
the stored size moved under it reloads its state from the tiles before appending.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import is_sqlite
from entrusted.domain.audit import Receipt
from entrusted.domain.ledger import (
    EMPTY_ROOT,
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    locate_node,
    node_from_tile_hashes,
    subtree_root,
    verify_consistency,
)
from entrusted.errors import NotFound, TamperDetected, Unavailable

FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
SEQUENCER_LOCK = 0x656E7472_75737465  # "entruste": the advisory lock key of the sequencer
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
        self._lock = threading.Lock()
        self._cr = CompactRange()
        self._partials: dict[int, tuple[int, bytearray]] = {}
        self._rows: set[int] = set()  # levels whose partial row exists
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cache_lock = threading.Lock()

    # --- start-up -------------------------------------------------------------------------

    def open(self) -> None:
        """Load the sequencer state from the tiles and refuse to run on a log that does not
        reproduce its own stored root."""
        with self._lock, self._engine.connect() as conn:
            self._load(conn)

    def _load(self, conn: sa.Connection) -> None:
        state = conn.execute(sa.select(t.ledger_state.c.size, t.ledger_state.c.root)).first()
        size, root = (0, EMPTY_ROOT) if state is None else (int(state.size), bytes(state.root))
        partials: dict[int, tuple[int, bytearray]] = {}
        for row in conn.execute(sa.select(t.ledger_partial_tile)):
            partials[int(row.level)] = (int(row.idx), bytearray(row.hashes))
        try:
            cr = CompactRange.from_nodes(size, lambda h, i: self._node(conn, h, i))
        except (NotFound, ValueError) as exc:
            raise TamperDetected(f"ledger tiles cannot rebuild the tree of size {size}: {exc}") from None
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
                consistency_proof(old_size, size, lambda h, i: self._node(conn, h, i)),
            )
            if not ok:
                raise TamperDetected(
                    f"the log at size {size} is not consistent with the last signed checkpoint "
                    f"(size {old_size})"
                )
        self._cr, self._partials, self._rows = cr, partials, set(partials)

    @staticmethod
    def _check_partials(size: int, partials: dict[int, tuple[int, bytearray]]) -> None:
        level_count = size
        for level in range(len(partials) + 1):
            idx, hashes = partials.get(level, (0, bytearray()))
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
            except (SQLAlchemyError, OSError) as exc:
                detail = getattr(exc, "orig", exc).__class__.__name__
                raise Unavailable(f"ledger append failed ({detail}); nothing was recorded") from None

    def _append_locked(self, items: Sequence[tuple[bytes, str | None]]) -> list[Receipt]:
        with self._engine.connect() as conn:
            if is_sqlite(self._engine):
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if not is_sqlite(self._engine):
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEQUENCER_LOCK})
                    conn.execute(sa.text("SET LOCAL synchronous_commit = on"))
                stored = conn.execute(sa.select(t.ledger_state.c.size)).scalar()
                if int(stored or 0) != self._cr.size:
                    self._load(conn)  # another process appended since we last looked
                cr = self._cr.copy()
                partials = {lv: (i, bytearray(b)) for lv, (i, b) in self._partials.items()}
                full: list[dict[str, object]] = []

                def on_node(height: int, index: int, h: bytes) -> None:
                    if height % TILE_HEIGHT:
                        return
                    level = height // TILE_HEIGHT
                    tile, buf = partials.get(level, (index // TILE_WIDTH, bytearray()))
                    buf += h
                    if len(buf) == FULL_TILE_BYTES:
                        full.append({"level": level, "idx": tile, "hashes": bytes(buf)})
                        partials[level] = (tile + 1, bytearray())
                    else:
                        partials[level] = (tile, buf)

                start = cr.size
                receipts = []
                rows = []
                for offset, (body, customer) in enumerate(items):
                    lh = leaf_hash(body)
                    cr.append(lh, on_node)
                    receipts.append(Receipt(start + offset, lh))
                    rows.append({"idx": start + offset, "body": body, "customer_id": customer})
                conn.execute(t.ledger_entry.insert(), rows)
                if full:
                    conn.execute(t.ledger_full_tile.insert(), full)
                for level, (tile, buf) in partials.items():
                    if self._partials.get(level) == (tile, buf):
                        continue
                    if level in self._rows:
                        conn.execute(
                            t.ledger_partial_tile.update()
                            .where(t.ledger_partial_tile.c.level == level)
                            .values(idx=tile, hashes=bytes(buf))
                        )
                    else:
                        conn.execute(
                            t.ledger_partial_tile.insert().values(level=level, idx=tile, hashes=bytes(buf))
                        )
                if start == 0 and stored is None:
                    conn.execute(t.ledger_state.insert().values(id=0, size=cr.size, root=cr.root()))
                else:
                    conn.execute(t.ledger_state.update().values(size=cr.size, root=cr.root()))
        self._cr, self._partials, self._rows = cr, partials, set(partials)
        return receipts

    # --- reads ----------------------------------------------------------------------------

    def _tile(self, conn: sa.Connection, level: int, idx: int) -> bytes:
        key = (level, idx)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        full = conn.execute(
            sa.select(t.ledger_full_tile.c.hashes).where(
                t.ledger_full_tile.c.level == level, t.ledger_full_tile.c.idx == idx
            )
        ).scalar()
        if full is not None:
            data = bytes(full)
            if len(data) != FULL_TILE_BYTES:
                raise TamperDetected(f"full tile {level}/{idx} has {len(data)} bytes")
            with self._cache_lock:
                self._cache[key] = data
                if len(self._cache) > TILE_CACHE_SIZE:
                    self._cache.popitem(last=False)
            return data
        partial = conn.execute(
            sa.select(t.ledger_partial_tile.c.hashes).where(
                t.ledger_partial_tile.c.level == level, t.ledger_partial_tile.c.idx == idx
            )
        ).scalar()
        if partial is None:
            raise NotFound("ledger tile", f"{level}/{idx}")
        return bytes(partial)

    def _node(self, conn: sa.Connection, height: int, index: int) -> bytes:
        loc = locate_node(height, index)
        return node_from_tile_hashes(self._tile(conn, loc.level, loc.tile), loc.first, loc.span)

    def tile(self, level: int, idx: int, width: int | None) -> bytes:
        """A C2SP tile: the full tile, or the first `width` hashes of a (possibly now full) one."""
        with self._engine.connect() as conn:
            data = self._tile(conn, level, idx)
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
        with self._engine.connect() as conn:
            return subtree_root(0, size, lambda h, i: self._node(conn, h, i))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        if not 0 <= index < size:
            raise NotFound("ledger entry", index)
        with self._engine.connect() as conn:
            return inclusion_proof(index, size, lambda h, i: self._node(conn, h, i))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise NotFound("ledger size", old_size)
        with self._engine.connect() as conn:
            return consistency_proof(old_size, new_size, lambda h, i: self._node(conn, h, i))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.stored_size():
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
        return None if r is None else StoredCheckpoint(int(r.size), bytes(r.root), str(r.note), r.signed_at)

    def add_checkpoint(self, size: int, root: bytes, note: str, signed_at: datetime) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    t.ledger_checkpoint.insert().values(
                        size=size, root=root, note=note, signed_at=signed_at
                    )
                )
        except SQLAlchemyError as exc:
            raise Unavailable(f"checkpoint not stored ({exc.__class__.__name__})") from None
