"""The SQL unit of work: one connection, one transaction, repositories bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from entrusted.adapters.db.consent_store import (
    SqlAccessRequestRepository,
    SqlCaseRepository,
    SqlConsentRepository,
    SqlGrantRepository,
)
from entrusted.adapters.db.identification_store import (
    SqlCustomerSessionRepository,
    SqlIdentificationRepository,
)
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
    GrantRepository,
    IdentificationRepository,
    LoginFailureRepository,
    StaffRepository,
    TokenRepository,
)


class SqlUnitOfWork:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._conn: sa.Connection | None = None
        self._tx: sa.RootTransaction | None = None

    def __enter__(self) -> Self:
        try:
            self._conn = self._engine.connect()
            self._tx = self._conn.begin()
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig.__class__.__name__}") from None
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
        self.rollback()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._tx = None
