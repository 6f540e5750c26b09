"""Group commit: many callers, one sequencer thread, one transaction per batch.

A caller enqueues its entry and blocks until the batch holding it has committed durably; only
then does it get its receipt (Vault's rule: no audit record, no access). There is no batching
window: the writer takes whatever has queued while the previous commit ran, so a lone caller
pays one commit and nothing more, while under load batches grow by themselves.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.domain.audit import AuditEntry, Receipt
from entrusted.domain.ledger import MAX_BUNDLE_ENTRY
from entrusted.errors import EntrustedError, InvalidInput, Unavailable

MAX_BATCH = 2000
ACK_TIMEOUT_S = 30.0


CUSTOMER_ID_MAX: int = t.ledger_entry.c.customer_id.type.length  # type: ignore[attr-defined]  # a String column


def check_item(body: bytes, customer_id: str | None) -> None:
    """Refuse, before it joins a batch, an entry its columns cannot hold: the database would
    reject it mid-batch and fail every other caller's append in the same commit. Bodies are
    bounded by the C2SP entry-bundle limit, so every entry can also be served."""
    if not isinstance(body, bytes) or not 0 < len(body) <= MAX_BUNDLE_ENTRY:
        raise InvalidInput("ledger entry", f"an entry is 1-{MAX_BUNDLE_ENTRY} bytes")
    if customer_id is None:
        return
    if (
        not isinstance(customer_id, str)
        or not 0 < len(customer_id) <= CUSTOMER_ID_MAX
        or "\x00" in customer_id  # PostgreSQL text cannot hold NUL
    ):
        raise InvalidInput(
            "ledger customer_id", f"a customer id is 1-{CUSTOMER_ID_MAX} characters, no NUL"
        )
    try:
        customer_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("ledger customer_id", "a customer id must be valid Unicode") from None


class _Pending:
    __slots__ = ("done", "error", "items", "receipts")

    def __init__(self, items: Sequence[tuple[bytes, str | None]]) -> None:
        self.items = items
        # Held until the batch is decided: the writer's release is one C call, where an
        # Event's set() runs a Condition in Python for every caller of the batch, with the
        # writer holding the GIL that everybody waits for.
        self.done = threading.Lock()
        self.done.acquire()
        self.receipts: list[Receipt] = []
        self.error: EntrustedError | None = None


class GroupCommitLedger:
    """The `Ledger` port on SQL. Start it once per process; `append` is thread-safe."""

    def __init__(self, store: SqlLedgerStore, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # commits done, for benchmarks and tests
        # Called after each committed batch (the tail signer's poke); must not block.
        self.after_commit: Callable[[], None] | None = None
        # Told each durable batch commit's duration in seconds (the metrics); must not block.
        self.observe_commit: Callable[[float], None] | None = None

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self.store.open()
                self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    def append(self, entry: AuditEntry) -> Receipt:
        return self.append_raw([(entry.to_bytes(), entry.owner)])[0]

    def append_many(self, entries: Sequence[AuditEntry]) -> list[Receipt]:
        return self.append_raw([(e.to_bytes(), e.owner) for e in entries])

    def append_body(self, body: bytes, owner: str | None) -> Receipt:
        """One entry already in its canonical bytes (the gate's fast path, `entry_bytes`)."""
        return self.append_raw([(body, owner)])[0]

    def append_raw(self, items: Sequence[tuple[bytes, str | None]]) -> list[Receipt]:
        for body, customer_id in items:
            check_item(body, customer_id)  # one bad caller must not fail the others' batch
        if self._thread is None:
            self.start()
        pending = _Pending(items)
        self._queue.put(pending)
        if not pending.done.acquire(timeout=ACK_TIMEOUT_S):
            raise Unavailable("the ledger did not acknowledge in time; nothing is allowed")
        if pending.error is not None:
            raise pending.error
        return pending.receipts

    def _run(self) -> None:
        with self.store.holding_connection():
            self._loop()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            count = len(first.items)
            while count < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                count += len(nxt.items)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        items = [item for p in batch for item in p.items]
        started = time.perf_counter()
        try:
            receipts = self.store.append_batch(items)
        except EntrustedError as exc:
            for p in batch:
                p.error = exc
                p.done.release()
            return
        except Exception as exc:  # noqa: BLE001 - any surprise must still fail the callers closed
            for p in batch:
                p.error = Unavailable(f"ledger writer failed: {type(exc).__name__}")
                p.done.release()
            return
        elapsed = time.perf_counter() - started
        self.batches += 1
        pos = 0
        for p in batch:
            p.receipts = receipts[pos : pos + len(p.items)]
            pos += len(p.items)
            p.done.release()
        if self.observe_commit is not None:  # after the callers go: not on their path
            self.observe_commit(elapsed)
        if self.after_commit is not None:
            self.after_commit()
