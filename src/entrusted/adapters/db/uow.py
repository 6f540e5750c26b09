"""The SQL unit of work: one connection, one transaction, repositories bound to it.

Contention (issue 10). SQLite has one writer: a transaction that reads and later writes cannot
wait for the lock (the upgrade fails at once with "database is locked", whatever busy_timeout
says, because waiting could deadlock), so a writing unit takes the write lock at BEGIN
(`BEGIN IMMEDIATE`), where busy_timeout does wait. A read-only unit begins DEFERRED and never
blocks a writer (WAL). On PostgreSQL every unit runs at READ COMMITTED, read-only ones as
`READ ONLY` transactions (see docs/concurrency.md). Beginning is retried a few
times on a busy or briefly unreachable database; contention that still surfaces inside the
block becomes `Unavailable` (503 with Retry-After), never an unexplained error.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError

from entrusted.adapters.db.consent_store import (
    SqlAccessRequestRepository,
    SqlCaseRepository,
    SqlConsentRepository,
    SqlGrantRepository,
)
from entrusted.adapters.db.engine import is_sqlite
from entrusted.adapters.db.ftp_password_store import SqlFtpPasswordRepository
from entrusted.adapters.db.identification_store import (
    SqlCustomerSessionRepository,
    SqlIdentificationRepository,
)
from entrusted.adapters.db.lookup_store import SqlLookupRepository
from entrusted.adapters.db.outbox_store import SqlOutboxRepository
from entrusted.adapters.db.registry_store import SqlContractRepository, SqlCustomerRepository
from entrusted.adapters.db.staff_store import (
    SqlLoginFailureRepository,
    SqlStaffRepository,
    SqlTokenRepository,
)
from entrusted.errors import Unavailable
from entrusted.services.ports import (
    AccessRequestRepository,
    CaseRepository,
    ConsentRepository,
    ContractRepository,
    CustomerRepository,
    CustomerSessionRepository,
    FtpPasswordRepository,
    GrantRepository,
    IdentificationRepository,
    LoginFailureRepository,
    LookupRepository,
    OutboxRepository,
    StaffRepository,
    TokenRepository,
)

# Attempts at BEGIN (each already waits up to the engine's busy timeout on SQLite) and the
# pause before the next one, doubled each time.
BEGIN_ATTEMPTS = 3
BEGIN_BACKOFF_S = 0.05


class SqlUnitOfWork:
    """`with SqlUnitOfWork(engine) as uow: ...; uow.commit()` writes; pass `read_only=True`
    for a unit that only reads (token checks, the read half of a login)."""

    def __init__(self, engine: sa.Engine, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._conn: sa.Connection | None = None
        self._tx: sa.RootTransaction | None = None

    def _options(self) -> dict[str, Any]:
        if is_sqlite(self._engine):
            return {"sqlite_begin": "DEFERRED" if self._read_only else "IMMEDIATE"}
        return {"postgresql_readonly": True} if self._read_only else {}

    def _begin(self) -> tuple[sa.Connection, sa.RootTransaction]:
        detail = "OperationalError"
        for attempt in range(BEGIN_ATTEMPTS):
            if attempt:
                time.sleep(BEGIN_BACKOFF_S * 2 ** (attempt - 1))
            conn: sa.Connection | None = None
            try:
                conn = self._engine.connect()
                conn.execution_options(**self._options())
                return conn, conn.begin()
            except OperationalError as exc:
                detail = exc.orig.__class__.__name__
                if conn is not None:
                    conn.close()
        raise Unavailable(f"database unavailable or busy ({detail}); nothing was changed")

    def __enter__(self) -> Self:
        self._conn, self._tx = self._begin()
        self.staff: StaffRepository = SqlStaffRepository(self._conn)
        self.tokens: TokenRepository = SqlTokenRepository(self._conn)
        self.login_failures: LoginFailureRepository = SqlLoginFailureRepository(self._conn)
        self.customers: CustomerRepository = SqlCustomerRepository(self._conn)
        self.contracts: ContractRepository = SqlContractRepository(self._conn)
        self.identifications: IdentificationRepository = SqlIdentificationRepository(self._conn)
        self.customer_sessions: CustomerSessionRepository = SqlCustomerSessionRepository(
            self._conn
        )
        self.cases: CaseRepository = SqlCaseRepository(self._conn)
        self.access_requests: AccessRequestRepository = SqlAccessRequestRepository(self._conn)
        self.consents: ConsentRepository = SqlConsentRepository(self._conn)
        self.grants: GrantRepository = SqlGrantRepository(self._conn)
        self.outbox: OutboxRepository = SqlOutboxRepository(self._conn)
        self.lookups: LookupRepository = SqlLookupRepository(self._conn)
        self.ftp_passwords: FtpPasswordRepository = SqlFtpPasswordRepository(self._conn)
        return self

    @property
    def connection(self) -> sa.Connection:
        assert self._conn is not None, "unit of work used outside `with`"
        return self._conn

    def commit(self) -> None:
        assert self._tx is not None
        try:
            self._tx.commit()
        except OperationalError as exc:
            raise Unavailable(f"commit failed: {exc.orig.__class__.__name__}") from None

    def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        except DBAPIError:
            pass  # the connection is gone; the server discards the transaction itself
        finally:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._tx = None
        if isinstance(exc, OperationalError):
            # A lock wait that timed out, a serialization failure, a dropped connection:
            # the transaction was rolled back; the caller may try again shortly.
            detail = exc.orig.__class__.__name__
            message = f"database busy or unavailable ({detail}); nothing was changed"
            raise Unavailable(message) from exc
