"""Shared fixtures: every database test runs on a real SQLite file and on the real PostgreSQL
server (a fresh schema per test). Outside CI a missing PostgreSQL skips; under CI=true it fails."""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa

from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from tests.installations import Installations

# Promise markers and the test manifest `entrusted evidence` reads (issue 19).
pytest_plugins = ["tests.promise_plugin"]

PG_URL = os.environ.get(
    "ENTRUSTED_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(available: bool, what: str) -> None:
    """Skip for a missing service on a developer machine; fail under CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} not available")


def require_module(name: str) -> ModuleType:
    """`pytest.importorskip`, except that under CI=true a missing module fails the test."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require_service(False, f"Python module {name} ({exc})")
        raise  # unreachable: require_service skipped or failed


_pg_ok: bool | None = None


def postgres_available() -> bool:
    global _pg_ok  # noqa: PLW0603 - probe the server once per session
    if _pg_ok is None:
        try:
            engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _pg_ok = True
        except sa.exc.SQLAlchemyError:
            _pg_ok = False
    return _pg_ok


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    require_service(postgres_available(), "PostgreSQL at " + PG_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'entrusted.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Staff need a second factor by default; the tests of it (test_staff_security.py) turn it
    # back on, the others log staff in with a password alone.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        staff_totp_required=False,
        mail_transport="directory",  # real files, read back by tests/messages.py
        sms_transport="directory",
    )


@pytest.fixture(scope="session")
def installations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installations]:
    """`initialise` once per kind of installation; each `container` gets a copy (see
    tests/installations.py: the migrations cost minutes over the suite)."""
    made = Installations(tmp_path_factory.mktemp("installations"), PG_URL)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def container(
    settings: Settings, clock: FakeClock, installations: Installations
) -> Iterator[Container]:
    installations.install(settings)
    c = build(settings, clock=clock)
    try:
        yield c
    finally:
        c.close()


def count_rows(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
