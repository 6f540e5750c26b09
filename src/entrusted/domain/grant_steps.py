"""A step of a staff session under a grant, as stored for the customer's closing summary: the
name it touched, sealed under the customer's data key (services/grant_steps.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SealedStep:
    ledger_index: int  # the step's allow entry in the ledger
    grant_id: str
    customer_id: str
    command: str  # "retr", "list", "cwd": the protocol's word, never a name
    name: bytes  # sealed: crypto.envelope field bound to customer, grant and ledger index
    at: datetime
