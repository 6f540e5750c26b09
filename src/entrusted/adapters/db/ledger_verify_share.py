"""A share of a full verification checked in a second process, on the second core.

Python hashes and builds rows under one GIL, so one process verifies about 450,000 entries a
second whatever the machine has; the bottom level (leaf hashes against level-0 tiles, the
filing of each entry) is nearly all of the work and splits cleanly, because a chunk of whole
tiles needs nothing from the chunks before it. The verifier hands the upper part of the log's
whole tiles to one child process, checks the rest itself meanwhile, and folds the child's
level-1 hashes in where they belong, so everything above level 0 is still checked in one
place, in order, and the first bad entry reported is the lowest one either process found.

The child reads the same database itself: on PostgreSQL through the verifier's own exported
snapshot (exactly the same view); SQLite has no shared snapshots, so the child's view may be
later than the verifier's, which changes nothing for entries and full tiles below the
verifier's size: the log only ever appends, so any difference there is tampering and is
reported as such. The child is a fresh interpreter running this module (never a `fork`: the
serving and worker processes that verify have threads; nor multiprocessing's `spawn`, which
re-runs the parent's main script in the child), told its share on stdin (the database URL
may hold a password: never on a command line) and reporting through a pipe of its own. If
the child fails for any reason but tampering, the verifier checks the share itself: a
verification never ends unfinished because of it.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.db.ledger_leaves import TILE_BYTES, check_chunk, fold
from entrusted.adapters.db.ledger_scan import snapshot
from entrusted.errors import TamperDetected

CHUNK_TILES = 64  # as the verifier's own chunks: 16,384 entries a query


@dataclass(frozen=True, slots=True)
class Share:
    """Entries [lo, hi) (both on tile boundaries) of the database at `url`, read in the
    snapshot `exported` where the database can share one."""

    url: str
    exported: str | None
    lo: int
    hi: int


def check_share(share: Share, out: Connection) -> None:
    """The child's work: send `("progress", entries)` after each chunk, then `("done",
    level-1 hashes, full tiles)`, `("tamper", message, index)` or `("failed", why)`."""
    gc.disable()  # millions of short-lived rows, all freed by reference counting
    try:
        engine = make_engine(share.url)
        try:
            level1: list[bytes] = []
            tiles = 0
            with snapshot(engine, share.exported) as db:
                for lo, hi, rows, stored in db.chunks(share.hi, CHUNK_TILES, start=share.lo):
                    hashes = check_chunk(db, lo, hi, rows, stored)
                    level1.append(fold(hashes))
                    tiles += len(hashes) // TILE_BYTES
                    out.send(("progress", hi - lo))
            out.send(("done", b"".join(level1), tiles))
        finally:
            engine.dispose()
    except TamperDetected as exc:
        out.send(("tamper", exc.message, exc.index))
    except Exception as exc:  # noqa: BLE001 - reported to the verifier, which checks the share
        out.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        out.close()


class ShareInChild:
    """A `Share` being checked in a spawned child process. Close it (or use `with`)."""

    def __init__(self, share: Share) -> None:
        self.share = share
        self.entries_done = 0
        self.failure: str | None = None
        self._final: tuple[Any, ...] | None = None
        read, write = os.pipe()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-m", __name__, str(write)],
                pass_fds=(write,),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)  # the child's end: a child that dies shows as EOF here
        self._conn = Connection(read, writable=False)
        # On stdin, not the command line: the URL may hold a password, and `ps` shows argv.
        assert self._process.stdin is not None
        try:
            with self._process.stdin as told:
                told.write(json.dumps(asdict(share)).encode())
        except OSError:
            pass  # the child is gone already: `result` reports it

    def __enter__(self) -> ShareInChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self) -> int:
        """Entries checked so far, without waiting."""
        while self._final is None and self._receive(block=False):
            pass
        return self.entries_done

    def result(self) -> tuple[bytes, int] | None:
        """Wait for the child: its level-1 hashes and full-tile count; TamperDetected for what
        it found; None if it failed otherwise (`failure` says why: check the share here)."""
        while self._final is None:
            self._receive(block=True)
        kind, *rest = self._final
        if kind == "done":
            return rest[0], rest[1]
        if kind == "tamper":
            raise TamperDetected(rest[0], index=rest[1])
        self.failure = str(rest[0])
        return None

    def _receive(self, block: bool) -> bool:
        try:
            if not block and not self._conn.poll():
                return False
            message = self._conn.recv()
        except (EOFError, OSError):
            self._final = ("failed", f"the child process ended (exit code {self._exit_code()})")
            return False
        if message[0] == "progress":
            self.entries_done += message[1]
        else:
            self._final = tuple(message)
        return True

    def _exit_code(self) -> int | None:
        try:
            return self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._conn.close()


if __name__ == "__main__":  # the child: `python -m ... FD`, the share as JSON on stdin
    check_share(Share(**json.loads(sys.stdin.read())), Connection(int(sys.argv[1]), readable=False))
