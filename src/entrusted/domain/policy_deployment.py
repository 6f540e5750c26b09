"""A deployed rules file, as a value: the exact bytes, who deployed it, what changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Deployment:
    sha256: str
    rules: bytes
    source: str
    deployed_by: str
    deployed_at: datetime
    summary: str
    ledger_index: int
