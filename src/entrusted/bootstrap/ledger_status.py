"""The ledger's health as the console's ledger page shows it (P3, P14): its size, the latest
checkpoint and when it was signed, the worker's last full verification, and each configured
witness with the size it last cosigned, when, and whether it objected.

Why here and not in a service: the figures come from the adapters readiness and metrics read
(`bootstrap/observability.py`), and only bootstrap reaches adapters. The read is itself
gated and ledgered (`staff-audit-the-ledger`: system administrators and legal), so a role
without it gets the refusal, and each look is on the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.witness_cosignatures import SqlCosignatureStore
from entrusted.crypto.cosigning import parse_witness_vkey
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.services.gate import AccessContext

if TYPE_CHECKING:
    from entrusted.bootstrap import Container


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


def ledger_status(c: Container, actor: Actor) -> LedgerStatus:
    """The figures, once the gate lets `actor` read the ledger (ledgered either way)."""
    c.gate.decide(
        actor, Action.READ, Resource(ResourceKind.LEDGER, "status"), AccessContext(note="status")
    )
    size = c.ledger_store.stored_size()
    latest = c.ledger_store.latest_checkpoint()
    verification = c.ledger_verification()
    cosigned, halted = SqlCosignatureStore(c.engine).witnessed()
    times = _last_cosigned(c.engine)
    witnesses = []
    for url, vkey in c.witness_entries():
        name = parse_witness_vkey(vkey).name
        done = cosigned.get(name, 0)
        witnesses.append(WitnessStatus(name, url, done, times.get(name), max(0, size - done)))
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


def _last_cosigned(engine: sa.Engine) -> dict[str, datetime]:
    cs = t.ledger_cosignature.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cs.witness, sa.func.max(cs.cosigned_at)).group_by(cs.witness))
        return {str(w): datetime.fromtimestamp(int(at), UTC) for w, at in rows if at is not None}
