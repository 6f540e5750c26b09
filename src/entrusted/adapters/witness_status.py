"""The witnesses' cosignatures as the ledger status reads them (`services.ledger_status.
CosignatureReader`): the size each witness last cosigned and any objection (from
`SqlCosignatureStore`), and when each last cosigned (tables `ledger_cosignature`)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.witness_cosignatures import SqlCosignatureStore


class SqlCosignatureReader:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._store = SqlCosignatureStore(engine)

    def witnessed(self) -> tuple[dict[str, int], str | None]:
        return self._store.witnessed()

    def last_cosigned(self) -> dict[str, datetime]:
        cs = t.ledger_cosignature.c
        query = sa.select(cs.witness, sa.func.max(cs.cosigned_at)).group_by(cs.witness)
        with self._engine.connect() as conn:
            rows = conn.execute(query)
            return {
                str(w): datetime.fromtimestamp(int(at), UTC) for w, at in rows if at is not None
            }
