"""The customer's access history as the composition root wires it (issue 18): the ledger
read through its `customer_id` index, the desk's hold-backs (P5), the grant steps' opened
names and staff display names for the closing summary, and the checkpoints for receipts."""

from __future__ import annotations

from collections.abc import Callable

from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.bootstrap.consent import Consent, staff_names
from entrusted.bootstrap.registry import Registry
from entrusted.bootstrap.wiring import Wiring
from entrusted.services.access_history import AccessHistory
from entrusted.services.disclosure_holdback import HeldBack
from entrusted.services.ledger import CheckpointService


def build_history(
    w: Wiring,
    consent: Consent,
    registry: Registry,
    store: SqlLedgerStore,
    held_back: HeldBack,
    checkpoints: Callable[[], CheckpointService],
) -> AccessHistory:
    return AccessHistory(
        consent.parts, store, held_back, registry.grant_steps, staff_names(w), checkpoints
    )
