"""A share of a full verification checked in a second process, on the second core.

Python hashes and builds rows under one GIL, so one process verifies about 450,000 entries a
second whatever the machine has; the bottom level (leaf hashes against level-0 tiles, the
filing of each entry) is nearly all of the work and splits cleanly, because a chunk of whole
tiles needs nothing from the chunks before it. The verifier hands the upper part of the log's
whole tiles to one child process, checks the rest itself meanwhile, and folds the child's
level-1 hashes in where they belong, so everything above level 0 is still checked in one
place, in order, and the first bad entry reported is the lowest one either process found.

The child reads the same database itself: on PostgreSQL through the verifier's own exported
snapshot (exactly the same view). SQLite has no shared snapshots, so the child reads the same
file a moment later (its start-up, ~0.3 s): for an intact log that is the same entries and full
tiles (the log only appends above the verifier's size), and whatever the child reads is checked
like the rest, but a change made after the verifier's snapshot began and undone before the
child's, in the child's share, would go unseen (`--one-process` reads one snapshot throughout).

The child is a fresh interpreter running this module, isolated (`-I`: neither the working
directory nor PYTHON* variables can put other code in its place). Never a `fork` (the serving
and worker processes that verify have threads), nor multiprocessing's `spawn` (it re-runs the
parent's main script in the child). It is told its share on stdin (the database URL may hold a
password: never on a command line) and answers in JSON through a pipe of its own. If it fails
for any reason but tampering, cannot start, is stuck, or answers something that does not fit
its share, the verifier checks the share itself: the result is the same, only slower.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.db.ledger_leaves import CHUNK_TILES, TILE_BYTES, check_chunk, fold
from entrusted.adapters.db.ledger_scan import snapshot
from entrusted.domain.ledger import HASH_SIZE, TILE_WIDTH
from entrusted.errors import TamperDetected


@dataclass(frozen=True, slots=True)
class Share:
    """Entries [lo, hi) (both on tile boundaries) of the database at `url`, read in the
    snapshot `exported` where the database can share one."""

    url: str
    exported: str | None
    lo: int
    hi: int


def check_share(share: Share, out: Connection) -> None:
    """The child's work: send `["progress", entries]` after each chunk, then `["done", level-1
    hashes in hex, full tiles]`, `["tamper", message, index]` or `["failed", why]`, as JSON
    (the parent never unpickles what a child sends)."""
    gc.disable()  # millions of short-lived rows, all freed by reference counting

    def send(*message: object) -> None:
        out.send_bytes(json.dumps(message).encode())

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
                    send("progress", hi - lo)
            send("done", b"".join(level1).hex(), tiles)
        finally:
            engine.dispose()
    except TamperDetected as exc:
        send("tamper", exc.message, exc.index)
    except Exception as exc:  # noqa: BLE001 - reported to the verifier, which checks the share
        send("failed", f"{type(exc).__name__}: {exc}")
    finally:
        out.close()


class ShareInChild:
    """A `Share` being checked in a child process. Close it (or use `with`)."""

    def __init__(self, share: Share) -> None:
        self.share = share
        self.entries_done = 0
        self.failure: str | None = None
        self._final: list[Any] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        try:
            self._start()
        except OSError as exc:  # no process to be had (EAGAIN, ENOMEM, no interpreter)
            self._final = ["failed", f"the second process could not start: {exc}"]

    def _start(self) -> None:
        read, write = os.pipe()
        try:
            # -I: isolated, so neither the current directory nor PYTHON* variables can put
            # other code in the child in place of this module and its imports.
            self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-I", "-m", __name__, str(write)],
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
                told.write(json.dumps(asdict(self.share)).encode())
        except OSError:
            pass  # the child is gone already: `result` reports it

    def __enter__(self) -> ShareInChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self) -> int:
        """Entries checked so far, without waiting."""
        while self._final is None and self._receive(0):
            pass
        return self.entries_done

    def result(self, timeout: float) -> tuple[bytes, int] | None:
        """Wait for the child, at most `timeout` seconds: its level-1 hashes and full-tile
        count; TamperDetected for what it found; None if it failed, or gave an answer that
        does not fit its share, or took too long (`failure` says why: check the share here)."""
        deadline = time.monotonic() + timeout
        while self._final is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                self._final = ["failed", f"the second process did not finish in {timeout:.0f} s"]
            else:
                self._receive(left)
        kind, *rest = self._final
        if kind == "tamper" and isinstance(rest[0], str) and isinstance(rest[1], int | None):
            raise TamperDetected(rest[0], index=rest[1])
        if kind == "done":
            tiles = (self.share.hi - self.share.lo) // TILE_WIDTH
            level1 = bytes.fromhex(rest[0]) if isinstance(rest[0], str) else b""
            if rest[1] == tiles and len(level1) == tiles * HASH_SIZE:
                return level1, tiles
            rest = ["an answer that does not fit its share"]
        self.failure = str(rest[0])
        return None

    def _receive(self, wait: float) -> bool:
        """Take one message if one comes within `wait` seconds."""
        assert self._conn is not None
        try:
            if not self._conn.poll(wait):
                return False
            message = json.loads(self._conn.recv_bytes())
        except (EOFError, OSError, ValueError):
            self._final = ["failed", f"the second process ended (exit code {self._exit_code()})"]
            return False
        if not isinstance(message, list) or not message:
            self._final = ["failed", "the second process sent something else than a message"]
        elif message[0] == "progress" and len(message) == 2 and type(message[1]) is int:
            self.entries_done += message[1]
        else:
            self._final = [*message, None, None]  # padded: the shapes are checked by `result`
        return True

    def _exit_code(self) -> int | None:
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                # SIGKILL, not SIGTERM: it only reads, and a stopped process ignores the rest.
                self._process.kill()
            self._process.wait()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


if __name__ == "__main__":  # the child: `python -I -m ... FD`, the share as JSON on stdin
    check_share(Share(**json.loads(sys.stdin.read())), Connection(int(sys.argv[1]), readable=False))
