"""`GrantStepStore` on the `grant_step` table: each add is its own short transaction."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from entrusted.adapters.db import tables as t
from entrusted.domain.grant_steps import SealedStep
from entrusted.errors import Unavailable

_S = t.grant_step.c


class SqlGrantStepStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def add(self, step: SealedStep) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    t.grant_step.insert().values(
                        ledger_index=step.ledger_index,
                        grant_id=step.grant_id,
                        customer_id=step.customer_id,
                        command=step.command,
                        name=step.name,
                        at=step.at,
                    )
                )
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig.__class__.__name__}") from None

    def for_grants(self, grant_ids: Sequence[str]) -> list[SealedStep]:
        if not grant_ids:
            return []
        query = (
            sa.select(t.grant_step)
            .where(_S.grant_id.in_(list(grant_ids)))
            .order_by(_S.ledger_index)
        )
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig.__class__.__name__}") from None
        return [
            SealedStep(
                int(r.ledger_index), r.grant_id, r.customer_id, r.command, bytes(r.name), r.at
            )
            for r in rows
        ]
