"""Checkpoints over the audit log: signed heads that commit the operator to one history.

A checkpoint is signed only if the log's current root is consistent with the previous
checkpoint (C2SP: a log MUST NOT sign two inconsistent checkpoints), so a rewritten history
can never be blessed. While the log grows a checkpoint is signed every few seconds; while idle
the last one is re-signed at least every ten minutes so that a silent gap is visible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol, TypeVar

from entrusted.crypto.signing import Signer
from entrusted.domain.checkpoint import Checkpoint, LocalRecord
from entrusted.domain.ledger import verify_consistency
from entrusted.errors import TamperDetected, Unavailable
from entrusted.services.ports import Clock, LedgerLog
from entrusted.services.witness_submit import WitnessSubmitter

SIGN_LOCK = "ledger.sign"  # one signer at a time, across processes (worker, CLI, export)
START_UP_WAIT_S = 900.0  # how long start-up waits for another process's verification


class SignerLock(Protocol):
    """A cross-process try-lock (the worker's job lock)."""

    def hold(self, name: str) -> AbstractContextManager[bool]: ...


class Verified(Protocol):
    """A verification's report, holding the local record of the point it reached."""

    @property
    def record(self) -> LocalRecord: ...


V = TypeVar("V", bound=Verified)


class LocalRecordStore(Protocol):
    """The signed record of what this installation signed and verified, outside the database."""

    def load(self) -> LocalRecord | None: ...
    def save(self, record: LocalRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


class CheckpointService:
    def __init__(
        self,
        log: LedgerLog,
        signer: Signer,
        clock: Clock,
        lock: SignerLock,
        record: LocalRecordStore,
        idle_resign: timedelta = timedelta(minutes=10),
        lock_wait_s: float = 10.0,
        witnesses: WitnessSubmitter | None = None,
    ) -> None:
        self._log = log
        self._signer = signer
        self._clock = clock
        self._lock = lock
        self._record = record
        self._idle = idle_resign
        self._lock_wait_s = lock_wait_s
        self._witnesses = witnesses
        self._halted: str | None = None

    def halt(self, reason: str) -> None:
        """Stop signing in this process: a verification found the stored log altered, and a
        new checkpoint would vouch for it. A restart verifies again (and halts again)."""
        self._halted = reason

    @property
    def vkey(self) -> str:
        """The key that signs checkpoints now."""
        return self._signer.vkey

    @property
    def key_list(self) -> str:
        """Every key of the log, one vkey per line (`crypto.signing_keys`): what verifiers
        need, since after a rollover old checkpoints carry only the old key's signature."""
        return self._signer.key_list

    @property
    def origin(self) -> str:
        return self._signer.name

    def sign(self, force: bool = False) -> SignedCheckpoint | None:
        """Sign the current head if it grew (or the idle re-sign is due, or `force`).

        Every signing path comes here and signs under one cross-process lock, so two signers
        never interleave; the head must be consistent with the newest stored checkpoint and
        with the last head this installation signed (the local record, which a database thief
        cannot roll back), and the store checks the largest stored one again as it inserts.
        """
        with self._signing():
            if self._halted is not None:
                raise TamperDetected(f"signing stopped: {self._halted}")
            if self._witnesses is not None:
                self._witnesses.check_not_halted()
            # The checkpoint first: the log only grows, so a size read after it is never
            # smaller, even when another signer (without the job lock) stores one between.
            last = self._log.latest_checkpoint()
            size = self._log.stored_size()
            now = self._clock()
            if (
                last is not None
                and not force
                and last.size == size
                and now - last.signed_at < self._idle
            ):
                return None
            root = self._log.root_at(size)
            if last is not None:
                self._check_consistent(last.size, last.root, size, root, "checkpoint")
            record = self._record.load()
            if record is not None:
                self._check_consistent(
                    record.signed_size, record.signed_root, size, root, "the head this log signed"
                )
            note = self._signer.sign_checkpoint(Checkpoint(self._signer.name, size, root))
            # Recorded before the note can leave this process: whatever happens next, the
            # signer remembers that it signed this head.
            self._record.save(
                replace(record, signed_size=size, signed_root=root)
                if record is not None
                else LocalRecord(self._signer.name, size, root, 0, (), 0)
            )
            if self._witnesses is None:
                self._log.add_checkpoint(size, root, note, now)
                return SignedCheckpoint(size, root, note)
            # The witnesses see the note while the log stores it: their round trips overlap
            # the store's commit. A witness that objects halts us (its future raises).
            cosigned = self._witnesses.start(size, root, note)
            try:
                self._log.add_checkpoint(size, root, note, now)
            except BaseException:
                cosigned.exception()  # wait: a witness's halt is stored and alerted either way
                raise
            return SignedCheckpoint(size, root, cosigned.result().note)

    def advance_record(self, verify: Callable[[LocalRecord | None], V], adopt: bool = False) -> V:
        """Run `verify` from the signed local record and keep the point it reached, under the
        signing lock so that no signature lands in between (start-up verification).

        A log that holds signed checkpoints but no local record is refused unless `adopt`:
        deleting the record is exactly what someone who rolled the database back would do, and
        without it a truncated log that was re-tiled verifies. Adopting (an explicit operator
        step: a restored data dir, a new instance on a shared database) verifies everything
        from the first entry and writes a new record."""
        with self._signing(START_UP_WAIT_S):  # another process may be verifying a long tail
            record = self._record.load()
            last = self._log.latest_checkpoint()
            if record is None and last is not None and not adopt:
                raise TamperDetected(
                    f"the signed local record is missing while the log holds signed "
                    f"checkpoints (the latest at size {last.size}); a rolled-back database "
                    "cannot be told from a genuine one without it. Check the log with "
                    "`entrusted ledger monitor` against a copy of its published checkpoints, "
                    "then run `entrusted ledger adopt-record`"
                )
            report = verify(record)
            self._record.save(report.record)
            return report

    def check_record(self) -> str:
        """Whether the log as stored is consistent with the last head this installation
        signed (the local record): `ledger verify` checks the log against itself, this checks
        it against what it already published. Raises `TamperDetected` on a rollback."""
        record = self._record.load()
        if record is None:
            return "no local record in this data directory: not compared with earlier heads"
        size = self._log.stored_size()
        root = self._log.root_at(size)
        self._check_consistent(
            record.signed_size, record.signed_root, size, root, "the head this log signed"
        )
        return f"consistent with the head of size {record.signed_size:,} this installation signed"

    @contextmanager
    def _signing(self, wait_s: float | None = None) -> Iterator[None]:
        deadline = time.monotonic() + (self._lock_wait_s if wait_s is None else wait_s)
        while True:
            with self._lock.hold(SIGN_LOCK) as got:
                if got:
                    yield
                    return
            if time.monotonic() >= deadline:
                raise Unavailable("another process is signing a checkpoint; try again")
            time.sleep(0.02)

    def _check_consistent(
        self, old_size: int, old_root: bytes, size: int, root: bytes, what: str
    ) -> None:
        if size < old_size:
            raise TamperDetected(
                f"the log (size {size}) shrank below {what} (size {old_size}); not signing",
                index=size,
            )
        proof = self._log.consistency_proof(old_size, size)
        if not verify_consistency(old_size, size, old_root, root, proof):
            raise TamperDetected(
                f"the log at size {size} is not consistent with {what} (size {old_size}); "
                "not signing"
            )

    def latest(self) -> SignedCheckpoint:
        published = self.published()
        if published is not None:
            return published
        signed = self.sign(force=True)
        assert signed is not None
        return signed

    def published(self) -> SignedCheckpoint | None:
        """The newest stored checkpoint with its witnesses' cosignatures (None if none yet);
        never signs, so serving it needs no lock."""
        last = self._log.latest_checkpoint()
        if last is None:
            return None
        note = self._cosigned(last.size, last.root, last.note)
        return SignedCheckpoint(last.size, last.root, note)

    def _cosigned(self, size: int, root: bytes, note: str) -> str:
        if self._witnesses is None:
            return note
        return self._witnesses.cosigned_note(size, root, note)


class TailSigner:
    """Signs a checkpoint soon after every append, so the unsigned tail (entries a database
    thief could still delete without trace) lives at most about `max_delay_s`.

    The ledger pokes it after each committed batch; one thread signs whatever has been
    appended by then, at most every `min_gap_s`, so under load one signature covers many
    batches. A failed signature is reported through `on_error` and retried on the next poke.

    >>> tail = TailSigner(checkpoints, on_error=print)  # doctest: +SKIP
    >>> ledger.after_commit = tail.poke  # doctest: +SKIP
    """

    def __init__(
        self,
        checkpoints: CheckpointService,
        on_error: Callable[[Exception], None],
        min_gap_s: float = 0.2,
    ) -> None:
        self._checkpoints = checkpoints
        self._on_error = on_error
        self._min_gap_s = min_gap_s
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        self._due.set()

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="ledger-tail", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._due.set()
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            self._due.wait()
            if self._stopping.is_set():
                return
            self._due.clear()
            try:
                self._checkpoints.sign()
            except Exception as exc:  # noqa: BLE001 - reported; signing resumes on the next poke
                self._on_error(exc)
            self._stopping.wait(self._min_gap_s)
