"""Whether any open grant row names this staff member, resource and case: the gate's cheap
first question before its `active_grant` condition reads grants, case and contract.

Most requests that need that condition have no grant at all (support asking for a mailbox
they were never given: every such try is a denial to ledger), and answering them through a
unit of work cost a pool checkout, a BEGIN, the query through SQLAlchemy's execution layer and
a ROLLBACK: about 370 µs of Python per denial, more than the decision and its ledger entry
together. This asks `SqlGrantRepository.matching`'s own query (`MATCHING_GRANTS`), cut
down to "is there a row", as one prepared statement on a driver cursor of the probe's own
(`tests/integration/test_grant_probe.py` keeps the two answers equal). A single SELECT
needs no explicit transaction: in autocommit it reads one snapshot by itself on both
databases, so the probe's connections stay out of the pool, whose reset on every return (a
ROLLBACK, and a pool checkout before it) cost as much again as the query.
"""

from __future__ import annotations

import queue
import threading
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from entrusted.adapters.db.consent_store import MATCHING_GRANTS
from entrusted.adapters.db.engine import is_sqlite
from entrusted.errors import Unavailable

MAX_OPEN = 16  # the probe's own connections, at most; more callers at once wait for one
WAIT_S = 30.0  # as long as a pool checkout waits
_Held = tuple[Any, Any]
"""(the pool-detached SQLAlchemy connection, a cursor on its driver connection)"""

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
        self._lock = threading.Lock()
        self._free: queue.SimpleQueue[_Held] = queue.SimpleQueue()
        self._open = 0
        self._closed = False
        sa.event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def _args(self, staff_id: str, service_id: str, case_id: str) -> Any:
        values = {
            **self._defaults,
            "staff_id": staff_id,
            "service_id": service_id,
            "case_id": case_id,
        }
        return tuple(values[k] for k in self._order) if self._positional else values

    def __call__(self, staff_id: str, service_id: str, case_id: str) -> bool:
        args = self._args(staff_id, service_id, case_id)
        held: _Held | None = None
        try:
            held = self._take()
            cur = held[1]
            cur.execute(self._sql, args)
            found = bool(cur.fetchall())  # all (at most one row): the statement is finished
        except (SQLAlchemyError, self._engine.dialect.loaded_dbapi.Error) as exc:
            if held is not None:
                self._drop(held)
            # As a unit of work answers: the gate fails closed with 503, never a 500.
            detail = getattr(exc, "orig", exc).__class__.__name__
            raise Unavailable(f"database unavailable ({detail}); nothing was decided") from None
        with self._lock:  # close() drains under this lock: nothing is put back after it
            kept = not self._closed
            if kept:
                self._free.put(held)
        if not kept:
            self._drop(held)
        return found

    def _take(self) -> _Held:
        """A free connection; a new one while fewer than MAX_OPEN are open; else wait for
        one, as a pool would (opening one per burst cost milliseconds on the slowest calls)."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            opening = self._open < MAX_OPEN
            if opening:
                self._open += 1
        if opening:
            try:
                return self._connect()
            except BaseException:
                with self._lock:
                    self._open -= 1
                raise
        try:
            return self._free.get(timeout=WAIT_S)
        except queue.Empty:
            raise Unavailable("the grant probe's connections are all busy; nothing was "
                              "decided") from None

    def _drop(self, held: _Held) -> None:
        with self._lock:
            self._open -= 1
        _discard(held)

    def _connect(self) -> _Held:
        """A connection of the probe's own, out of the pool: returning one to the pool costs
        a reset (a ROLLBACK) per probe. It reads in autocommit, each SELECT its own snapshot,
        so it never holds a transaction open between probes."""
        fairy = self._engine.raw_connection()
        driver: Any = fairy.driver_connection
        fairy.detach()  # closed for real when discarded; the pool no longer counts it
        if not is_sqlite(self._engine):
            driver.rollback()  # the pool's pre-ping may have begun one
            driver.autocommit = True
        # pysqlite runs a lone SELECT outside any transaction already (see engine.py).
        return fairy, driver.cursor()

    def close(self) -> None:
        """Close the free connections, and any in use when its probe ends; called when the
        engine is disposed (an event hook set up in __init__), as the pool's own are."""
        with self._lock:
            self._closed = True
        while True:
            try:
                held = self._free.get_nowait()
            except queue.Empty:
                return
            self._drop(held)


def _discard(held: _Held) -> None:
    with suppress(Exception):  # a broken connection is being thrown away anyway
        held[1].close()
    with suppress(Exception):
        held[0].close()
