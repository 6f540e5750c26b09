"""What the evidence report reads from the database (services/evidence.py's ports).

The entries come through the driver-level snapshot reader the full verification uses
(`ledger_scan.py`): a million entry bodies must reach the report's tally in a second or two,
and SQLAlchemy's result rows would cost more than decoding them. The other facts are small
aggregate queries read at report time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.backup_store import SqlBackupCatalog
from entrusted.adapters.db.ledger_scan import snapshot
from entrusted.domain.backups import Archive, DayKey
from entrusted.domain.cases import CaseStatus
from entrusted.domain.ledger import TILE_WIDTH
from entrusted.services.evidence import OutlivedGrant, WitnessState

CHUNK = 64 * TILE_WIDTH  # 16,384 entries per query, as the verifier reads them
_BODIES = "SELECT body FROM ledger_entry WHERE idx >= %s AND idx < %s ORDER BY idx"


def entry_chunks(engine: sa.Engine, size: int) -> Iterator[Sequence[bytes]]:
    """The bodies of entries [0, size), a chunk at a time, inside one read-only snapshot."""
    with snapshot(engine) as db:
        for lo in range(0, size, CHUNK):
            rows = db.rows(_BODIES, (lo, min(size, lo + CHUNK)))
            yield [bytes(body) for (body,) in rows]


class SqlEvidenceFacts:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._backups = SqlBackupCatalog(engine)

    def checkpoints_signed(self, since: datetime, until: datetime) -> int:
        c = t.ledger_checkpoint.c
        query = sa.select(sa.func.count()).where(c.signed_at >= since, c.signed_at < until)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def cosignatures(self, since: datetime, until: datetime) -> int:
        c = t.ledger_cosignature.c
        lo, hi = int(since.timestamp()), int(until.timestamp())
        query = sa.select(sa.func.count()).where(c.cosigned_at >= lo, c.cosigned_at < hi)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def witnesses(self) -> list[WitnessState]:
        w, c = t.ledger_witness.c, t.ledger_cosignature.c
        last = (
            sa.select(c.witness, sa.func.max(c.cosigned_at).label("at"))
            .group_by(c.witness)
            .subquery()
        )
        query = (
            sa.select(w.witness, w.size, w.halted_reason, last.c.at)
            .outerjoin(last, last.c.witness == w.witness)
            .order_by(w.witness)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            WitnessState(
                str(r.witness),
                int(r.size),
                None if r.at is None else datetime.fromtimestamp(int(r.at), UTC),
                None if r.halted_reason is None else str(r.halted_reason),
            )
            for r in rows
        ]

    def backup_days(self) -> list[DayKey]:
        return self._backups.days()

    def archives(self) -> list[Archive]:
        return self._backups.archives()

    def grants_outliving_cases(self) -> list[OutlivedGrant]:
        g, case = t.consent_grant.c, t.support_case.c
        query = (
            sa.select(g.id, g.case_id, case.resolved_at, g.ended_at)
            .join(t.support_case, case.id == g.case_id)
            .where(
                case.status == CaseStatus.RESOLVED.value,
                case.resolved_at.is_not(None),
                sa.or_(g.ended_at.is_(None), g.ended_at > case.resolved_at),
            )
            .order_by(g.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [OutlivedGrant(str(r.id), str(r.case_id), r.resolved_at, r.ended_at) for r in rows]
