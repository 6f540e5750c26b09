"""Checkpoints over the audit log: signed heads that commit the operator to one history.

A checkpoint is signed only if the log's current root is consistent with the previous
checkpoint (C2SP: a log MUST NOT sign two inconsistent checkpoints), so a rewritten history
can never be blessed. While the log grows a checkpoint is signed every few seconds; while idle
the last one is re-signed at least every ten minutes so that a silent gap is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from entrusted.crypto.signing import NoteSigner
from entrusted.domain.checkpoint import Checkpoint
from entrusted.domain.ledger import verify_consistency
from entrusted.errors import TamperDetected
from entrusted.services.ports import CheckpointRecord, Clock, LedgerLog


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


class CheckpointService:
    def __init__(
        self,
        log: LedgerLog,
        signer: NoteSigner,
        clock: Clock,
        idle_resign: timedelta = timedelta(minutes=10),
    ) -> None:
        self._log = log
        self._signer = signer
        self._clock = clock
        self._idle = idle_resign

    @property
    def vkey(self) -> str:
        return self._signer.vkey

    @property
    def origin(self) -> str:
        return self._signer.name

    def sign(self, force: bool = False) -> SignedCheckpoint | None:
        """Sign the current head if it grew (or the idle re-sign is due, or `force`)."""
        size = self._log.stored_size()
        last = self._log.latest_checkpoint()
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
            self._check_consistent(last, size, root)
        note = self._signer.sign_checkpoint(Checkpoint(self._signer.name, size, root))
        self._log.add_checkpoint(size, root, note, now)
        return SignedCheckpoint(size, root, note)

    def _check_consistent(self, last: CheckpointRecord, size: int, root: bytes) -> None:
        if size < last.size:
            raise TamperDetected(f"the log shrank below the last checkpoint ({last.size})")
        proof = self._log.consistency_proof(last.size, size)
        if not verify_consistency(last.size, size, last.root, root, proof):
            raise TamperDetected(
                f"the log at size {size} is not consistent with checkpoint {last.size}; not signing"
            )

    def latest(self) -> SignedCheckpoint:
        last = self._log.latest_checkpoint()
        if last is None:
            signed = self.sign(force=True)
            assert signed is not None
            return signed
        return SignedCheckpoint(last.size, last.root, last.note)
