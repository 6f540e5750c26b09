"""The log's witness cosignatures on SQL (tables `ledger_cosignature`, `ledger_witness`).

A cosignature is evidence the operator cannot forge, so it is kept beside the checkpoint it
covers and published with it. The halt reason is kept here too, so that a restarted signer
stays stopped; deleting it would take database access, and the alert that went with it is
in the hash-chained ledger, where its removal is itself detectable.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from entrusted.adapters.db import tables as t
from entrusted.errors import Unavailable


class SqlCosignatureStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def witnessed(self) -> tuple[dict[str, int], str | None]:
        w = t.ledger_witness.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(w.witness, w.size, w.halted_reason).order_by(w.halted_at, w.witness)
            ).all()
        halted = [str(r.halted_reason) for r in rows if r.halted_reason is not None]
        return {str(r.witness): int(r.size) for r in rows}, (halted[0] if halted else None)

    def add(self, witness: str, size: int, root: bytes, line: str, timestamp: int) -> None:
        c, w = t.ledger_cosignature.c, t.ledger_witness.c
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    t.ledger_cosignature.delete().where(c.size == size, c.witness == witness)
                )
                conn.execute(
                    t.ledger_cosignature.insert().values(
                        size=size, witness=witness, root=root, line=line, cosigned_at=timestamp
                    )
                )
                updated = conn.execute(
                    t.ledger_witness.update().where(w.witness == witness).values(size=size)
                ).rowcount
                if not updated:
                    conn.execute(t.ledger_witness.insert().values(witness=witness, size=size))
        except SQLAlchemyError as exc:
            raise Unavailable(f"cosignature not stored ({type(exc).__name__})") from None

    def halt(self, witness: str, reason: str, at: datetime) -> None:
        w = t.ledger_witness.c
        with self._engine.begin() as conn:
            updated = conn.execute(
                t.ledger_witness.update()
                .where(w.witness == witness)
                .values(halted_reason=reason, halted_at=at)
            ).rowcount
            if not updated:
                conn.execute(
                    t.ledger_witness.insert().values(
                        witness=witness, size=0, halted_reason=reason, halted_at=at
                    )
                )

    def lines(self, size: int, root: bytes) -> list[str]:
        c = t.ledger_cosignature.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.line).where(c.size == size, c.root == root).order_by(c.witness)
            )
            return [str(line) for (line,) in rows]
