"""Group commit: many callers, one sequencer thread, one transaction per batch.

A caller enqueues its entry and blocks until the batch holding it has committed durably; only
then does it get its receipt (Vault's rule: no audit record, no access). There is no batching
window: the writer takes whatever has queued while the previous commit ran, so a lone caller
pays one commit and nothing more, while under load batches grow by themselves.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.domain.audit import AuditEntry, Receipt
from entrusted.errors import EntrustedError, Unavailable

MAX_BATCH = 2000
ACK_TIMEOUT_S = 30.0


class _Pending:
    __slots__ = ("done", "error", "items", "receipts")

    def __init__(self, items: Sequence[tuple[bytes, str | None]]) -> None:
        self.items = items
        self.done = threading.Event()
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

    def append_raw(self, items: Sequence[tuple[bytes, str | None]]) -> list[Receipt]:
        if self._thread is None:
            self.start()
        pending = _Pending(items)
        self._queue.put(pending)
        if not pending.done.wait(ACK_TIMEOUT_S):
            raise Unavailable("the ledger did not acknowledge in time; nothing is allowed")
        if pending.error is not None:
            raise pending.error
        return pending.receipts

    def _run(self) -> None:
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
        try:
            receipts = self.store.append_batch(items)
        except EntrustedError as exc:
            for p in batch:
                p.error = exc
                p.done.set()
            return
        except Exception as exc:  # noqa: BLE001 - any surprise must still fail the callers closed
            for p in batch:
                p.error = Unavailable(f"ledger writer failed: {type(exc).__name__}")
                p.done.set()
            return
        self.batches += 1
        pos = 0
        for p in batch:
            p.receipts = receipts[pos : pos + len(p.items)]
            pos += len(p.items)
            p.done.set()
