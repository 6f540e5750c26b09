"""A witness (C2SP tlog-witness): cosigns a log's checkpoint only if it extends the last one.

Run by another party (a partner hoster, an auditor, the customer association), it holds the
operator to one append-only history: for each log it trusts it remembers the largest tree it
cosigned, and it cosigns a new checkpoint only when the log's signature verifies and an RFC 6962
consistency proof links the remembered tree to the new one. A rolled-back log (smaller, or
submitted from a stale size), a rewritten one (even re-signed with the real key) and a fork
all fail one of those checks, and the witness says which one, with the spec's status code.
Every refusal is kept in the witness's own state as evidence of the log's misbehaviour.

>>> witness = Witness(cosigner, store, clock)  # doctest: +SKIP
>>> lines = witness.add_checkpoint(AddCheckpoint(0, (), note).text())  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from entrusted.crypto.cosigning import Cosigner
from entrusted.crypto.signing import verify_note
from entrusted.domain.checkpoint import Checkpoint, parse_signed_note
from entrusted.domain.cosignature import parse_add_checkpoint
from entrusted.domain.ledger import verify_consistency
from entrusted.errors import InvalidInput, TamperDetected
from entrusted.services.ports import Clock


class RefusalKind(Enum):
    """Why a witness refused; `status` is the HTTP status tlog-witness prescribes."""

    MALFORMED = "malformed"  # not an add-checkpoint request, or old size above the new size
    BAD_SIGNATURE = "bad-signature"  # no signature by a key trusted for the origin
    UNKNOWN_LOG = "unknown-log"  # the witness does not witness this origin
    STALE_OLD_SIZE = "stale-old-size"  # the old size is not what the witness last cosigned
    ROOT_MISMATCH = "root-mismatch"  # same size as last cosigned, different root: a fork
    BAD_PROOF = "bad-proof"  # the consistency proof does not verify: a rewrite or a fork

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS = {
    RefusalKind.MALFORMED: 400,
    RefusalKind.BAD_SIGNATURE: 403,
    RefusalKind.UNKNOWN_LOG: 404,
    RefusalKind.STALE_OLD_SIZE: 409,
    RefusalKind.ROOT_MISMATCH: 409,
    RefusalKind.BAD_PROOF: 422,
}


class WitnessRefused(Exception):  # noqa: N818 - protocol outcome, translated by the HTTP adapter
    """A refusal: `kind` says which check failed, `known_size` is the size the witness last
    cosigned for the log (the 409 body)."""

    def __init__(self, kind: RefusalKind, reason: str, known_size: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.known_size = known_size


@dataclass(frozen=True, slots=True)
class WitnessedHead:
    size: int
    root: bytes


class WitnessStore(Protocol):
    """The witness's own state: trusted logs, the last cosigned head per log, refusals."""

    def trusted_key(self, origin: str) -> str | None: ...
    def latest(self, origin: str) -> WitnessedHead | None: ...
    def advance(
        self, origin: str, old: WitnessedHead | None, new: WitnessedHead, note: str
    ) -> bool:
        """Atomically replace `old` by `new`; False if the stored head is no longer `old`."""
        ...

    def record_refusal(self, origin: str, kind: RefusalKind, reason: str, request: str) -> None:
        ...


class Witness:
    def __init__(self, cosigner: Cosigner, store: WitnessStore, clock: Clock) -> None:
        self._cosigner = cosigner
        self._store = store
        self._clock = clock

    @property
    def vkey(self) -> str:
        return self._cosigner.vkey

    def add_checkpoint(self, request: str) -> str:
        """The cosignature line(s) for the submitted checkpoint; WitnessRefused otherwise
        (and the refusal is recorded before it is raised)."""
        try:
            return self._check_and_cosign(request)
        except WitnessRefused as refused:
            self._store.record_refusal(origin_of(request), refused.kind, refused.reason, request)
            raise

    def _check_and_cosign(self, request: str) -> str:
        try:
            req = parse_add_checkpoint(request)
            body, _ = parse_signed_note(req.note)
        except ValueError as exc:
            raise WitnessRefused(RefusalKind.MALFORMED, f"malformed request: {exc}") from None
        origin = body.split("\n", 1)[0]
        vkey = self._store.trusted_key(origin)
        if vkey is None:
            raise WitnessRefused(RefusalKind.UNKNOWN_LOG, f"unknown log {origin!r}")
        try:
            cp = verify_note(req.note, vkey, origin=origin)
        except (TamperDetected, InvalidInput) as exc:
            raise WitnessRefused(
                RefusalKind.BAD_SIGNATURE, f"no valid signature by the log's key: {exc}"
            ) from None
        if req.old_size > cp.size:
            raise WitnessRefused(
                RefusalKind.MALFORMED, f"old size {req.old_size} exceeds size {cp.size}"
            )
        known = self._store.latest(origin)
        self._check_extends(known, req.old_size, req.proof, cp)
        new = WitnessedHead(cp.size, cp.root)
        if not self._store.advance(origin, known, new, req.note):
            now = self._store.latest(origin)
            raise WitnessRefused(
                RefusalKind.STALE_OLD_SIZE,
                "another submission advanced this log first; retry from its size",
                now.size if now else 0,
            )
        timestamp = int(self._clock().timestamp())
        return self._cosigner.cosign(body, timestamp)

    @staticmethod
    def _check_extends(
        known: WitnessedHead | None, old_size: int, proof: tuple[bytes, ...], cp: Checkpoint
    ) -> None:
        known_size = known.size if known else 0
        if old_size != known_size:
            what = "rollback" if cp.size < known_size else "stale old size"
            raise WitnessRefused(
                RefusalKind.STALE_OLD_SIZE,
                f"{what}: this witness last cosigned size {known_size}, not {old_size}",
                known_size,
            )
        if known is None:
            if proof:
                raise WitnessRefused(RefusalKind.BAD_PROOF, "the proof from size 0 must be empty")
            return
        if cp.size == known.size and cp.root != known.root:
            raise WitnessRefused(
                RefusalKind.ROOT_MISMATCH,
                f"fork: size {cp.size} has a different root than the one this witness cosigned",
                known_size,
            )
        if not verify_consistency(known.size, cp.size, known.root, cp.root, proof):
            raise WitnessRefused(
                RefusalKind.BAD_PROOF,
                f"inconsistent: no proof that size {cp.size} extends the size {known.size} "
                "this witness cosigned (rewritten or forked history)",
            )


def origin_of(request: str) -> str:
    """The origin line of a request's checkpoint, for the refusal record ('' if none)."""
    _, _, note = request.partition("\n\n")
    return note.split("\n", 1)[0][:256]
