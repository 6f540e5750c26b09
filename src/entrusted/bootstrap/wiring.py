"""What every area's wiring starts from: the settings, the database engine and the clock, with
the unit-of-work factories the services take. One object instead of the same four arguments
on every `build_*` function of the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.config import Settings
from entrusted.services.ports import ConsentUnitOfWork, RegistryUnitOfWork, UnitOfWork


@dataclass(frozen=True, slots=True)
class Wiring:
    settings: Settings
    engine: sa.Engine
    clock: Callable[[], datetime]

    # Each factory opens a new unit per call; the services hold the bound method.
    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine)

    def reader(self) -> SqlUnitOfWork:
        """A read-only unit: it never waits for SQLite's write lock (the gate's conditions)."""
        return SqlUnitOfWork(self.engine, read_only=True)

    def registry_uow(self) -> RegistryUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def consent_uow(self) -> ConsentUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def consent_reader(self) -> ConsentUnitOfWork:
        return SqlUnitOfWork(self.engine, read_only=True)
