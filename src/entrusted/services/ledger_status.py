"""The ledger's health as the console's ledger page shows it (P3, P14): its size, the latest
checkpoint and when it was signed, the worker's last full verification, and each configured
witness with the size it last cosigned, when, and whether it objected.

The read is itself gated and ledgered (`staff-audit-the-ledger`: system administrators and
legal), before any figure is read, so a role without it gets the refusal and each look is
on the record. The figures come through small ports (the SQL stays in adapters), wired once
in bootstrap (`Container.ledger_status`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from entrusted.crypto.cosigning import parse_witness_vkey
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.services.gate import AccessContext, Gate


class Checkpoint(Protocol):
    @property
    def size(self) -> int: ...
    @property
    def signed_at(self) -> datetime: ...


class LedgerFigures(Protocol):
    """The stored ledger's size and its latest signed checkpoint (None: none yet)."""

    def stored_size(self) -> int: ...
    def latest_checkpoint(self) -> Checkpoint | None: ...


class CosignatureReader(Protocol):
    """What the witnesses cosigned: per witness the largest size and the time of the latest
    cosignature, and a witness's objection (which halts checkpoints), if any."""

    def witnessed(self) -> tuple[dict[str, int], str | None]: ...
    def last_cosigned(self) -> dict[str, datetime]: ...


@dataclass(frozen=True, slots=True)
class WitnessStatus:
    name: str
    url: str
    cosigned_size: int  # 0: never cosigned
    cosigned_at: datetime | None
    lag: int  # entries not yet cosigned


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    size: int
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    verified_ok: bool | None  # None: the worker has not verified it yet
    verified_at: str | None
    verification_detail: str | None
    witnesses: tuple[WitnessStatus, ...]
    halted: str | None  # a witness's objection, which stops checkpoints


class LedgerStatusService:
    def __init__(
        self,
        gate: Gate,
        ledger: LedgerFigures,
        cosignatures: CosignatureReader,
        verification: Callable[[], Mapping[str, object]],
        witnesses: Callable[[], list[tuple[str, str]]],
    ) -> None:
        self._gate = gate
        self._ledger = ledger
        self._cosignatures = cosignatures
        self._verification = verification  # {"ok", "at", "detail"} of the last full check
        self._witnesses = witnesses  # (URL, vkey) of each configured witness

    def status(self, actor: Actor) -> LedgerStatus:
        """The figures, once the gate lets `actor` read the ledger (ledgered either way)."""
        self._gate.decide(
            actor,
            Action.READ,
            Resource(ResourceKind.LEDGER, "status"),
            AccessContext(note="status"),
        )
        size = self._ledger.stored_size()
        latest = self._ledger.latest_checkpoint()
        verification = self._verification()
        cosigned, halted = self._cosignatures.witnessed()
        times = self._cosignatures.last_cosigned()
        witnesses = []
        for url, vkey in self._witnesses():
            name = parse_witness_vkey(vkey).name
            done = cosigned.get(name, 0)
            witnesses.append(
                WitnessStatus(name, url, done, times.get(name), max(0, size - done))
            )
        ok = verification["ok"]
        return LedgerStatus(
            size=size,
            checkpoint_size=latest.size if latest else None,
            checkpoint_at=latest.signed_at if latest else None,
            verified_ok=ok if isinstance(ok, bool) else None,
            verified_at=str(verification["at"]) if verification["at"] else None,
            verification_detail=str(verification["detail"]) if verification["detail"] else None,
            witnesses=tuple(witnesses),
            halted=halted,
        )
