"""Wires the console's ledger status (`services.ledger_status`) to the SQL ledger store, the
witnesses' cosignatures and the worker's last verification: built once per container."""

from __future__ import annotations

from typing import TYPE_CHECKING

from entrusted.adapters.witness_status import SqlCosignatureReader
from entrusted.services.ledger_status import LedgerStatusService

if TYPE_CHECKING:
    from entrusted.bootstrap import Container


def build_ledger_status(c: Container) -> LedgerStatusService:
    return LedgerStatusService(
        c.gate,
        c.ledger_store,
        SqlCosignatureReader(c.engine),
        c.ledger_verification,
        c.witness_entries,
    )
