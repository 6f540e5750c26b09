"""Full-log verification: recompute the whole tree from the entries and compare every byte.

This is what an auditor runs, so it trusts nothing stored but the entries themselves and the
verifier key: every leaf hash, every tile (full and partial, at every level), the tree state's
root, the filing of each entry under its customer, and every checkpoint (signature, size,
root, consistency with the one before) are recomputed and compared. The first difference
raises `TamperDetected` naming the bad entry's index, or the tile or checkpoint that is wrong.

It has to keep up with hundreds of thousands of entries a second (1e8 entries in minutes):
the bottom level, nearly all of the work, is `ledger_leaves` (nothing per entry in Python but
the leaf hash), and on a large log a second process checks the upper part of it meanwhile
(`ledger_verify_share`); the levels above, the tree state and the checkpoints are checked
here, in order, from the level-1 hashes of both.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from entrusted.adapters.db.ledger_leaves import (
    CHUNK_TILES,
    TILE_BYTES,
    blob,
    check_chunk,
    first_difference,
    fold,
)
from entrusted.adapters.db.ledger_scan import Row, SnapshotReader, snapshot
from entrusted.adapters.db.ledger_verify_share import Share, ShareInChild
from entrusted.crypto.signing import log_origin, verify_note
from entrusted.domain.ledger import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TILE_LEVEL,
    TILE_HEIGHT,
    TILE_WIDTH,
    CompactRange,
    consistency_proof,
    subtree_root,
    verify_consistency,
)
from entrusted.domain.tiles import (
    locate_node,
    node_from_tile_hashes,
)
from entrusted.errors import TamperDetected

Progress = Callable[[int, int], None]
"""`progress(entries_done, entries_total)`, called after each chunk."""

# A second process pays for itself from about this many entries. It starts later (a fresh
# interpreter), so its share is smaller by HEAD_START entries: at 1e6 entries on two cores,
# 150,000 left the child idle at the end and 0 left this process waiting; 75,000 was best.
PARALLEL_MIN = 400_000
HEAD_START = 75_000
CHILD_GRACE_S = 30.0  # the least a second process is waited for once this one is done

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a clean run checked."""

    size: int
    root: bytes
    tiles: int
    checkpoints: int
    # How many processes checked the entries (a second one on large logs): how, not what.
    processes: int = field(default=1, compare=False)


def verify_ledger(
    engine: sa.Engine,
    vkey: str,
    progress: Progress | None = None,
    parallel: bool | None = None,
) -> VerifyReport:
    """Verify the whole log against `vkey`, the log's note verifier key; TamperDetected if not.

    Checkpoints must name the key's name as their origin, which is how Entrusted signs them.
    `parallel` hands part of the entries to a second process: None decides by the machine
    (more than one CPU) and the log (PARALLEL_MIN entries or more); True always does (when
    the log has two whole tiles or more), False never does. The result is the same.
    """
    origin = log_origin(vkey)  # a vkey or the log's key list (after a key rollover)
    url = engine.url.render_as_string(hide_password=False)
    with _cycle_collection_paused(), snapshot(engine) as db:
        return _Verifier(db, vkey, origin, progress, url, parallel).run()


def share_start(whole: int, parallel: bool | None) -> int:
    """Where the second process's share of the `whole` entries in full tiles begins (`whole`
    itself: no second process). It starts late, so this process takes the larger part."""
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and whole >= PARALLEL_MIN
    if not parallel or whole < 2 * TILE_WIDTH:
        return whole
    head = (whole + HEAD_START) // 2 if whole >= PARALLEL_MIN else whole // 2
    return min(whole - TILE_WIDTH, -(-head // TILE_WIDTH) * TILE_WIDTH)


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """The scan allocates millions of short-lived row tuples, all freed by reference counting;
    the cyclic collections they would trigger re-walk the whole heap for nothing (in a busy
    process that halved the rate). The previous setting is restored afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Verifier:
    def __init__(
        self,
        db: SnapshotReader,
        vkey: str,
        origin: str,
        progress: Progress | None,
        url: str,
        parallel: bool | None,
    ) -> None:
        self.db = db
        self.vkey = vkey
        self.origin = origin
        self.progress = progress
        self.size = 0
        self.stored_root = EMPTY_ROOT
        # Per level, recomputed from the entries: the hashes past the last full tile, and how
        # many full tiles have been checked.
        self.levels: list[bytearray] = [bytearray()]
        self.full_done: list[int] = [0]
        self.tiles_checked = 0
        self.url = url  # the database, for a second process to read
        self.parallel = parallel
        self.processes = 1
        self.reported = 0

    def run(self) -> VerifyReport:
        state = self.db.rows("SELECT size, root FROM ledger_state")
        if len(state) > 1:
            raise TamperDetected("ledger_state holds more than one row")
        if state:
            size, root = state[0]
            if type(size) is not int or size < 0 or not isinstance(root, bytes):
                raise TamperDetected(f"ledger_state holds an invalid size {size!r} or root")
            self.size, self.stored_root = size, root
        self._entries()
        count = self.db.rows("SELECT count(*) FROM ledger_entry")[0][0]
        if count != self.size:
            raise TamperDetected(
                f"the log holds {count} entries but records its size as {self.size}",
                index=self.size,
            )
        self._check_partials()
        self._check_tile_counts()
        root = self._root()
        if self.stored_root != root:
            raise TamperDetected(
                f"ledger_state's root for size {self.size} is not the root the entries produce"
            )
        checkpoints = self._check_checkpoints()
        return VerifyReport(self.size, root, self.tiles_checked, checkpoints, self.processes)

    # --- entries and level 0 ----------------------------------------------------------------

    def _entries(self) -> None:
        """Every entry against its level-0 tile, in order; the upper part of the whole tiles in
        a second process when there is one to use (`ledger_verify_share`)."""
        whole = self.size - self.size % TILE_WIDTH
        split = share_start(whole, self.parallel)
        child = None
        if split < whole:
            child = ShareInChild(Share(self.url, self.db.export(), split, whole))
        started = time.monotonic()
        try:
            self._check(0, split, child)
            if child is not None:
                # Its share is smaller than this process's: waiting several times as long as
                # this took means it is stuck (a stopped process, a hung connection).
                self._take(child, max(CHILD_GRACE_S, 4 * (time.monotonic() - started)))
            self._check(whole, self.size)
        finally:
            if child is not None:
                child.close()

    def _take(self, child: ShareInChild, timeout: float) -> None:
        """The child's share, in its place; checked here instead if the child failed."""
        result = child.result(timeout)
        if result is None:  # the same result, only slower: worth an operator's look
            log.warning("ledger verify: the second process failed (%s); checking its share "
                        "here", child.failure)
            self._check(child.share.lo, child.share.hi)
            return
        level1, full = result
        self.processes = 2
        self._level1(b"", level1, full)
        self._report(child.share.hi)

    def _check(self, start: int, stop: int, child: ShareInChild | None = None) -> None:
        """Entries [start, stop) here, a chunk at a time, reporting progress (the child's too,
        while it runs)."""
        for lo, hi, rows, tiles in self.db.chunks(stop, CHUNK_TILES, start=start):
            self._chunk(lo, hi, rows, tiles)
            self._report(hi + (child.poll() if child is not None else 0))

    def _report(self, done: int) -> None:
        """Progress never goes back, even when a failed child's share is checked again here."""
        self.reported = max(self.reported, min(done, self.size))
        if self.progress is not None:
            self.progress(self.reported, self.size)

    def _chunk(self, lo: int, hi: int, rows: list[Row], stored: list[Row]) -> None:
        hashes = check_chunk(self.db, lo, hi, rows, stored)
        full = len(hashes) // TILE_BYTES
        self._level1(hashes[full * TILE_BYTES :], fold(hashes[: full * TILE_BYTES]), full)

    def _level1(self, rest: bytes, level1: bytes, full: int) -> None:
        """Take in checked level-0 tiles: `full` of them, whose roots are `level1`, then the
        leaf hashes `rest` past the last full tile."""
        self.tiles_checked += full
        self.full_done[0] += full
        self.levels[0] += rest
        if full:
            self._push(1, level1)

    # --- upper levels and the tree state ---------------------------------------------------

    def _push(self, level: int, hashes: bytes) -> None:
        """Append recomputed hashes at `level`, checking every tile they complete."""
        if len(self.levels) == level:
            self.levels.append(bytearray())
            self.full_done.append(0)
        buf = self.levels[level]
        buf += hashes
        full = len(buf) // TILE_BYTES
        if not full:
            return
        done = bytes(buf[: full * TILE_BYTES])
        del buf[: full * TILE_BYTES]
        first = self.full_done[level]
        stored = self.db.rows(
            "SELECT idx, hashes FROM ledger_full_tile WHERE level = %s AND idx >= %s "
            "AND idx < %s ORDER BY idx",
            (level, first, first + full),
        )
        for k in range(full):
            if k >= len(stored) or stored[k][0] != first + k:
                raise TamperDetected(f"tile {level}/{first + k} is missing")
            if stored[k][1] != done[k * TILE_BYTES : (k + 1) * TILE_BYTES]:
                raise TamperDetected(
                    f"tile {level}/{first + k} was altered: it is not the hash of the tiles "
                    "below it"
                )
        self.tiles_checked += full
        self.full_done[level] += full
        self._push(level + 1, fold(done))

    def _check_partials(self) -> None:
        stored = {
            r[0]: (r[1], blob(r[2]))
            for r in self.db.rows("SELECT level, idx, hashes FROM ledger_partial_tile")
        }
        level = 0
        while count := self.size >> (TILE_HEIGHT * level):  # the levels holding any hash
            want = (count // TILE_WIDTH, bytes(self.levels[level]))
            got = stored.pop(level, None)
            if got is None:
                raise TamperDetected(f"the partial tile of level {level} is missing")
            if got != want:
                self._explain_partial(level, got, want)
            self.tiles_checked += 1
            level += 1
        if stored:
            raise TamperDetected(f"unexpected partial tile at level {min(stored)}")

    def _explain_partial(self, level: int, got: Row, want: tuple[int, bytes]) -> None:
        tile, width = want[0], len(want[1]) // HASH_SIZE
        if (
            level == 0
            and got[0] == tile
            and len(got[1]) == len(want[1])
            and self._root(replace_level0=got[1]) == self.stored_root
        ):
            entry = tile * TILE_WIDTH + first_difference(got[1], want[1])
            raise TamperDetected(
                f"entry {entry} does not hash to the leaf hash its partial tile records",
                index=entry,
            )
        raise TamperDetected(f"partial tile {level}/{tile}.p/{width} was altered")

    def _root(self, replace_level0: bytes | None = None) -> bytes:
        """The root from the recomputed partial tiles, where every compact-range node lies."""
        levels = [bytes(b) for b in self.levels]
        if replace_level0 is not None:
            levels[0] = replace_level0

        def node(height: int, index: int) -> bytes:
            loc = locate_node(height, index)
            return node_from_tile_hashes(levels[loc.level], loc.first, loc.span)

        return CompactRange.from_nodes(self.size, node).root()

    def _check_tile_counts(self) -> None:
        """No full tile beyond those checked (they would be served to verifiers as real)."""
        for level, count in self.db.rows(
            "SELECT level, count(*) FROM ledger_full_tile GROUP BY level"
        ):
            if type(level) is not int or not 0 <= level <= MAX_TILE_LEVEL:
                raise TamperDetected(f"unexpected full tile at level {level!r}")
            want = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH
            if count != want:
                raise TamperDetected(
                    f"level {level} holds {count} full tiles; a log of {self.size} has {want}"
                )

    # --- checkpoints ------------------------------------------------------------------------

    def _check_checkpoints(self) -> int:
        """Every note verifies, matches its columns and the tree at its size, in growing order,
        and none is missing but perhaps the last (nothing records how many there were).

        Runs after every tile has been checked, so roots may come from the stored tiles."""
        rows = self.db.rows("SELECT id, size, root, note FROM ledger_checkpoint ORDER BY id")
        nodes = StoredNodes(self.db)
        previous: tuple[int, int, bytes] | None = None
        for expected_id, (cp_id, size, root, note) in enumerate(rows, start=1):
            if cp_id != expected_id:
                # Ids are handed out one by one, so a gap is a deleted checkpoint (on
                # PostgreSQL also, rarely, an insert whose commit failed after taking an id).
                raise TamperDetected(f"checkpoint #{expected_id} is missing")
            try:
                cp = verify_note(str(note), self.vkey, origin=self.origin)
            except TamperDetected as exc:
                raise TamperDetected(f"checkpoint #{cp_id}: {exc.message}") from None
            if (cp.size, cp.root) != (size, blob(root)):
                raise TamperDetected(f"checkpoint #{cp_id}: its size or root differs from its note")
            if cp.size > self.size:
                raise TamperDetected(f"checkpoint #{cp_id} signs size {cp.size}, beyond the log")
            if cp.root != (subtree_root(0, cp.size, nodes.get) if cp.size else EMPTY_ROOT):
                raise TamperDetected(
                    f"checkpoint #{cp_id} signs a root the entries do not produce at its size"
                )
            if previous is not None:
                prev_id, prev_size, prev_root = previous
                if cp.size < prev_size or not verify_consistency(
                    prev_size,
                    cp.size,
                    prev_root,
                    cp.root,
                    consistency_proof(prev_size, cp.size, nodes.get),
                ):
                    raise TamperDetected(f"checkpoint #{cp_id} is not consistent with #{prev_id}")
            previous = (cp_id, cp.size, cp.root)
        return len(rows)


class StoredNodes:
    """Tree nodes folded from stored tiles (cached), once the tiles are known to be right."""

    def __init__(self, db: SnapshotReader) -> None:
        self.db = db
        self.tiles: dict[tuple[int, int], bytes] = {}

    def get(self, height: int, index: int) -> bytes:
        loc = locate_node(height, index)
        key = (loc.level, loc.tile)
        data = self.tiles.get(key)
        if data is None:
            found = self.db.rows(
                "SELECT hashes FROM ledger_full_tile WHERE level = %s AND idx = %s", key
            ) or self.db.rows(
                "SELECT hashes FROM ledger_partial_tile WHERE level = %s AND idx = %s", key
            )
            if not found:
                raise TamperDetected(f"tile {loc.level}/{loc.tile} is missing")
            data = self.tiles[key] = blob(found[0][0])
        return node_from_tile_hashes(data, loc.first, loc.span)
