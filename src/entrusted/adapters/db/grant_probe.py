"""Whether any open grant row names this staff member, resource and case: the gate's cheap
first question before its `active_grant` condition reads grants, case and contract.

Most requests that need that condition have no grant at all (support asking for a mailbox
they were never given: every such try is a denial to ledger), and answering them through a
unit of work cost a pool checkout, a BEGIN, the query through SQLAlchemy's execution layer and
a ROLLBACK: about 370 µs of Python per denial, more than the decision and its ledger entry
together. This asks `SqlGrantRepository.matching`'s own query (`MATCHING_GRANTS`), cut
down to "is there a row", as one prepared statement on the driver's own cursor
(`tests/integration/test_grant_probe.py` keeps the two answers equal). A single SELECT
needs no explicit transaction: it reads one snapshot by itself on both databases.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from entrusted.adapters.db.consent_store import MATCHING_GRANTS
from entrusted.errors import Unavailable

_ANY_OPEN = (
    MATCHING_GRANTS.with_only_columns(sa.literal(1), maintain_column_froms=True)
    .order_by(None)
    .limit(1)
)


class GrantProbe:
    """`probe(staff_id, service_id, case_id)`: True if an open grant row matches."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        compiled = _ANY_OPEN.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._positional = compiled.positional
        self._order = tuple(compiled.positiontup or ())
        blank = {"staff_id": "", "service_id": "", "case_id": ""}
        self._defaults = dict(compiled.construct_params(blank))  # and the LIMIT's own

    def _args(self, staff_id: str, service_id: str, case_id: str) -> Any:
        values = {
            **self._defaults,
            "staff_id": staff_id,
            "service_id": service_id,
            "case_id": case_id,
        }
        return tuple(values[k] for k in self._order) if self._positional else values

    def __call__(self, staff_id: str, service_id: str, case_id: str) -> bool:
        try:
            conn = self._engine.raw_connection()
            try:
                cur = conn.cursor()
                try:
                    cur.execute(self._sql, self._args(staff_id, service_id, case_id))
                    return cur.fetchone() is not None
                finally:
                    cur.close()
            finally:
                conn.close()  # back to the pool, which ends the driver's implicit transaction
        except (SQLAlchemyError, self._engine.dialect.loaded_dbapi.Error) as exc:
            # As a unit of work answers: the gate fails closed with 503, never a 500.
            detail = getattr(exc, "orig", exc).__class__.__name__
            raise Unavailable(f"database unavailable ({detail}); nothing was decided") from None
