"""In-memory twins for the log's side of witnessing, for fast unit tests of the submitter.

`InMemoryCosignatureStore` stands for the SQL tables; `BareWitnessClient` hands a request to
an in-process `Witness` and answers as a plain C2SP witness would over HTTP: a status and, on
409, the known size, but none of our `X-Witness-Refusal` kinds, so the submitter's reading
of the bare protocol is what gets tested. Never used by a production path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from entrusted.domain.cosignature import AddCheckpoint
from entrusted.services.witness import RefusalKind, Witness, WitnessRefused

_BARE = {
    400: RefusalKind.MALFORMED,
    403: RefusalKind.BAD_SIGNATURE,
    404: RefusalKind.UNKNOWN_LOG,
    409: RefusalKind.STALE_OLD_SIZE,
    422: RefusalKind.BAD_PROOF,
}


@dataclass
class InMemoryCosignatureStore:
    sizes: dict[str, int] = field(default_factory=dict)
    halts: dict[str, str] = field(default_factory=dict)
    cosignatures: dict[tuple[int, str], tuple[bytes, str]] = field(default_factory=dict)

    def witnessed(self) -> tuple[dict[str, int], str | None]:
        return dict(self.sizes), next(iter(self.halts.values()), None)

    def add(self, witness: str, size: int, root: bytes, line: str, timestamp: int) -> None:
        del timestamp  # kept by the SQL store only
        self.cosignatures[(size, witness)] = (root, line)
        self.sizes[witness] = size

    def halt(self, witness: str, reason: str, at: datetime) -> None:
        del at
        self.halts.setdefault(witness, reason)
        self.sizes.setdefault(witness, 0)

    def lines(self, size: int, root: bytes) -> list[str]:
        return [
            line
            for (s, _), (r, line) in sorted(self.cosignatures.items())
            if s == size and r == root
        ]


@dataclass
class BareWitnessClient:
    witness: Witness

    def add_checkpoint(self, request: AddCheckpoint) -> str:
        try:
            return self.witness.add_checkpoint(request.text())
        except WitnessRefused as refused:
            kind = _BARE[refused.kind.status]
            raise WitnessRefused(kind, "", refused.known_size) from None
