"""In-memory twins of the evidence report's ports (services/evidence.py), for service tests:
the log is an `InMemoryLedger` (its tree gives the checkpoint's size and root), the facts are
plain lists a test fills in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from entrusted.domain.backups import Archive, DayKey
from entrusted.services.evidence import OutlivedGrant, SignedHead, WitnessState
from entrusted.services.memory import InMemoryLedger


@dataclass
class InMemoryEvidenceLedger:
    """Signs nothing: the note is a stand-in naming the size and root, as a test needs."""

    ledger: InMemoryLedger
    chunk: int = 1000

    def signed_head(self) -> SignedHead:
        size, root = self.ledger.tree.size, self.ledger.tree.root()
        return SignedHead(size, root, f"memory\n{size}\n{root.hex()}\n")

    def entry_chunks(self, size: int) -> Iterator[Sequence[bytes]]:
        bodies = [e.to_bytes() for e in self.ledger.entries[:size]]
        for lo in range(0, size, self.chunk):
            yield bodies[lo : lo + self.chunk]


@dataclass
class InMemoryEvidenceFacts:
    checkpoints: list[datetime] = field(default_factory=list)  # when each was signed
    cosigned: list[datetime] = field(default_factory=list)
    witness_states: list[WitnessState] = field(default_factory=list)
    days: list[DayKey] = field(default_factory=list)
    stored: list[Archive] = field(default_factory=list)
    outlived: list[OutlivedGrant] = field(default_factory=list)

    def checkpoints_signed(self, since: datetime, until: datetime) -> int:
        return sum(1 for at in self.checkpoints if since <= at < until)

    def cosignatures(self, since: datetime, until: datetime) -> int:
        return sum(1 for at in self.cosigned if since <= at < until)

    def witnesses(self) -> list[WitnessState]:
        return list(self.witness_states)

    def backup_days(self) -> list[DayKey]:
        return list(self.days)

    def archives(self) -> list[Archive]:
        return list(self.stored)

    def grants_outliving_cases(self) -> list[OutlivedGrant]:
        return list(self.outlived)
