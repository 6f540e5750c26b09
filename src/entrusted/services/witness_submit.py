"""The log's side of witnessing: submit each new checkpoint to the configured witnesses, keep
their cosignatures, and stop signing when one of them reports that our history changed.

Each witness remembers the largest tree of ours it cosigned. We send it the new checkpoint
with a consistency proof from that size (tlog-witness `add-checkpoint`); if it tells us
(409) that it knows another size, we retry once from there. A witness that cannot be
convinced the new tree extends the old one (a bad proof, a different root for the same size,
a size larger than our whole tree) has caught a rollback, a rewrite or a fork: that is not an
outage to retry but evidence. We then halt: the reason is stored, an alert is ledgered, and
`CheckpointService` refuses to sign until an operator has investigated. A witness that is
down or misconfigured only costs its cosignature; the k-of-n `WitnessPolicy` is what
customers (`verify-receipt`, `ledger monitor`) hold a checkpoint to.

>>> submitter.submit(size, root, note).count  # doctest: +SKIP
2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from entrusted.crypto.cosigning import parse_witness_vkey, verified_cosigners
from entrusted.domain.checkpoint import parse_signed_note
from entrusted.domain.cosignature import AddCheckpoint
from entrusted.errors import InvalidInput, TamperDetected, Unavailable
from entrusted.services.witness import RefusalKind, WitnessRefused

INCONSISTENT = (RefusalKind.BAD_PROOF, RefusalKind.ROOT_MISMATCH)


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """`quorum` of the witnesses named by `vkeys` must have cosigned a checkpoint.

    >>> WitnessPolicy((), 0).check("any note")
    {}
    """

    vkeys: tuple[str, ...]
    quorum: int

    def __post_init__(self) -> None:
        for vkey in self.vkeys:
            parse_witness_vkey(vkey)
        if not 0 <= self.quorum <= len(self.vkeys):
            raise InvalidInput(
                "witness quorum", f"{self.quorum} is not between 0 and {len(self.vkeys)} witnesses"
            )

    def check(self, note: str) -> dict[str, int]:
        """{witness: cosignature time} of the trusted cosignatures on `note`; TamperDetected
        when fewer than `quorum` verify."""
        if not self.vkeys:
            return {}
        try:
            body, _ = parse_signed_note(note)
        except ValueError as exc:
            raise TamperDetected(f"malformed signed note: {exc}") from None
        found = verified_cosigners(note, body, self.vkeys)
        if len(found) < self.quorum:
            raise TamperDetected(
                f"the checkpoint carries {len(found)} valid witness cosignature(s) "
                f"({', '.join(sorted(found)) or 'none'}); the policy requires {self.quorum} "
                f"of {len(self.vkeys)}"
            )
        return found


class WitnessClient(Protocol):
    def add_checkpoint(self, request: AddCheckpoint) -> str: ...


@dataclass(frozen=True, slots=True)
class ConfiguredWitness:
    vkey: str
    client: WitnessClient
    # Parsed once (a bad key fails here), not on every signature the tail signer makes.
    name: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", parse_witness_vkey(self.vkey).name)


class CosignatureStore(Protocol):
    """The log's record of its witnesses: cosignatures per checkpoint, sizes, the halt."""

    def witnessed(self) -> tuple[dict[str, int], str | None]:
        """{witness: last size it cosigned}, and the reason signing halted (None: it did not)."""
        ...

    def add(self, witness: str, size: int, root: bytes, line: str, timestamp: int) -> None: ...
    def halt(self, witness: str, reason: str, at: datetime) -> None: ...
    def lines(self, size: int, root: bytes) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Cosigned:
    note: str  # the log's note followed by every stored cosignature line
    count: int  # cosignatures gathered now
    failures: tuple[str, ...]  # witnesses that did not cosign, and why


class WitnessSubmitter:
    def __init__(
        self,
        witnesses: Sequence[ConfiguredWitness],
        store: CosignatureStore,
        proof: Callable[[int, int], list[bytes]],
        clock: Callable[[], datetime],
        on_alert: Callable[[str, str], None],
        on_failures: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        self._witnesses = tuple(witnesses)
        self._store = store
        self._proof = proof
        self._clock = clock
        self._on_alert = on_alert
        self._on_failures = on_failures
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="witness-submit")
        # One call per witness at once: n witnesses cost the slowest round trip, not the sum.
        self._calls = ThreadPoolExecutor(
            max_workers=max(1, len(self._witnesses)), thread_name_prefix="witness-call"
        )
        self._known: dict[str, int] | None = None

    def start(self, size: int, root: bytes, note: str) -> Future[Cosigned]:
        """`submit` on a thread of its own, so that the witnesses' round trips overlap the
        log's own storing of the checkpoint (the caller holds the signing lock meanwhile)."""
        return self._pool.submit(self.submit, size, root, note)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._calls.shutdown(wait=True)

    def check_not_halted(self) -> None:
        self._known, reason = self._store.witnessed()  # one read: submit() follows in this lock
        if reason is not None:
            raise TamperDetected(
                f"signing stopped: a witness reported that the log's history changed ({reason}); "
                "investigate before clearing ledger_witness.halted_reason"
            )

    def submit(self, size: int, root: bytes, note: str) -> Cosigned:
        """Ask every witness to cosign; halt (and raise TamperDetected) if one objects."""
        known = self._known if self._known is not None else self._store.witnessed()[0]
        self._known = None
        body, _ = parse_signed_note(note)
        count, failures, fresh = 0, [], {}
        calls = [
            (w, self._calls.submit(self._submit_one, w, known.get(w.name, 0), size, note))
            for w in self._witnesses
        ]
        for witness, call in calls:
            name = witness.name
            try:
                line = call.result()
            except WitnessRefused as refused:
                if refused.kind in INCONSISTENT or (
                    refused.kind is RefusalKind.STALE_OLD_SIZE
                    and (refused.known_size or 0) > size
                ):
                    self._halt(name, f"witness {name} refused size {size}: {refused.reason}")
                failures.append(f"{name}: {refused.kind.value}: {refused.reason}")
                continue
            except Unavailable as exc:
                failures.append(f"{name}: {exc.message}")
                continue
            stamps = verified_cosigners(note + line, body, [witness.vkey])
            if name not in stamps:
                failures.append(f"{name}: answered without a valid cosignature")
                continue
            fresh[name] = _own_line(line, name)
            self._store.add(name, size, root, fresh[name], stamps[name])
            count += 1
        # Every witness just cosigned: its lines are the stored ones (ordered by name).
        if count == len(self._witnesses):
            lines = [fresh[name] for name in sorted(fresh)]
        else:
            lines = self._store.lines(size, root)
        if failures and self._on_failures is not None:
            self._on_failures(tuple(failures))
        return Cosigned(note + "".join(lines), count, tuple(failures))

    def _submit_one(self, witness: ConfiguredWitness, old: int, size: int, note: str) -> str:
        for attempt in (1, 2):
            if old > size:
                raise WitnessRefused(
                    RefusalKind.STALE_OLD_SIZE,
                    f"rollback: it cosigned size {old}, larger than our whole tree",
                    old,
                )
            request = AddCheckpoint(old, tuple(self._proof(old, size)), note)
            try:
                return witness.client.add_checkpoint(request)
            except WitnessRefused as refused:
                if refused.kind is RefusalKind.STALE_OLD_SIZE and refused.known_size == old:
                    # A 409 naming the very size we sent can only mean (tlog-witness) that
                    # it holds another root for it: a fork, whatever header the witness sent.
                    raise WitnessRefused(
                        RefusalKind.ROOT_MISMATCH, refused.reason, refused.known_size
                    ) from None
                retry = refused.kind is RefusalKind.STALE_OLD_SIZE and attempt == 1
                if not retry or refused.known_size is None:
                    raise
                old = refused.known_size  # it knows another size: prove from there
        raise AssertionError("unreachable")  # pragma: no cover

    def _halt(self, witness: str, reason: str) -> None:
        self._store.halt(witness, reason[:2000], self._clock())
        self._on_alert(witness, reason)  # ledgered after the halt is stored
        raise TamperDetected(reason)

    def cosigned_note(self, size: int, root: bytes, note: str) -> str:
        return note + "".join(self._store.lines(size, root))


def _own_line(response: str, name: str) -> str:
    """The response line that carries `name`'s cosignature (a witness may send several)."""
    return next(line + "\n" for line in response.splitlines() if line.split(" ")[1:2] == [name])
