"""Contention on one database (issue 10): logins and tokens under a concurrent writer.

SQLite allows one writer; a transaction that reads and then writes (argon2 in between) used
to start DEFERRED and fail the lock upgrade at once with "database is locked" whatever
busy_timeout says, so logins answered 500 while the worker wrote its job state. These tests
run real threads on a real SQLite file (and PostgreSQL) beside a writer that keeps committing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.bootstrap import Container, initialise
from entrusted.config import Settings
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.api import problems
from entrusted.errors import AuthenticationFailed, Unavailable
from entrusted.services.registry_forms import Registration
from tests.conftest import count_rows

pytestmark = pytest.mark.promise("P2")

PASSWORD = "correct horse battery"
SIGNUP = Actor(ActorKind.SERVICE, "signup")


@contextmanager
def busy_writer(engine: sa.Engine) -> Iterator[None]:
    """What the worker does, without pause: short write transactions on job_state."""
    stop = threading.Event()

    def loop() -> None:
        with engine.begin() as conn:
            conn.execute(t.job_state.insert().values(name="contention", last_ok=True))
        while not stop.is_set():
            with engine.begin() as conn:
                conn.execute(
                    t.job_state.update()
                    .where(t.job_state.c.name == "contention")
                    .values(last_finished_at=datetime.now(UTC))
                )

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def run_all(calls: list[Callable[[], object]], threads: int = 8) -> list[BaseException | None]:
    """Run every call on a pool; the exception each raised (None for success)."""

    def one(call: Callable[[], object]) -> BaseException | None:
        try:
            call()
        except Exception as exc:
            return exc
        return None

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, calls))


def test_staff_logins_succeed_beside_a_busy_writer(container: Container) -> None:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    calls: list[Callable[[], object]] = [
        lambda: container.staff.login("ana", PASSWORD, None, "192.0.2.1") for _ in range(24)
    ]
    with busy_writer(container.engine):
        results = run_all(calls)
    assert results == [None] * 24
    assert count_rows(container.engine, "api_token") == 24


def test_every_failed_login_is_counted_beside_a_busy_writer(container: Container) -> None:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    calls: list[Callable[[], object]] = [
        # One address per attempt, under the per-address limit, so every attempt is judged
        lambda i=i: container.staff.login("ana", "wrong password!", None, f"192.0.2.{i}")  # type: ignore[misc]
        for i in range(4)
    ] + [lambda: container.staff.check_password("nobody", "wrong password!", "198.51.100.7")] * 4
    with busy_writer(container.engine):
        results = run_all(calls)
    assert all(isinstance(r, AuthenticationFailed) for r in results), results
    assert count_rows(container.engine, "login_failure") == 8


def test_token_checks_succeed_beside_a_busy_writer(container: Container) -> None:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    issued = container.staff.issue_token("ana", "laptop")
    calls: list[Callable[[], object]] = [lambda: container.staff.authenticate(issued.secret)] * 200
    with busy_writer(container.engine):
        results = run_all(calls)
    assert results == [None] * 200


def test_customer_logins_succeed_beside_a_busy_writer(container: Container) -> None:
    email = "load.customer@example.com"
    customer_id = container.registry.register(
        SIGNUP, Registration(last_name="Example", first_name="Cleo", email=email)
    ).customer_id
    secret, digest, expires = container.customer_auth.new_link()
    with SqlUnitOfWork(container.engine) as uow:
        uow.customers.set_password_token(customer_id, digest, expires)
        uow.commit()
    container.customer_auth.set_password(secret, PASSWORD)
    calls: list[Callable[[], object]] = [
        lambda: container.customer_auth.login(email, PASSWORD, "192.0.2.1") for _ in range(12)
    ] + [  # another account: a success clears its own account's failures
        lambda: container.customer_auth.login("nobody@example.com", "wrong password!", "192.0.2.2")
    ] * 4
    with busy_writer(container.engine):
        results = run_all(calls)
    assert results[:12] == [None] * 12
    assert all(isinstance(r, AuthenticationFailed) for r in results[12:]), results[12:]
    assert count_rows(container.engine, "customer_session") == 12
    assert count_rows(container.engine, "login_failure") == 4


def test_a_writing_unit_waits_for_the_lock_instead_of_failing(container: Container) -> None:
    """Read, then write, while another connection holds the write lock and commits: on
    SQLite the unit takes the lock at BEGIN, so it waits there rather than failing its
    upgrade, and reads what the holder committed. PostgreSQL (READ COMMITTED, row locks)
    lets both proceed; the unit read before the holder committed."""
    holding = threading.Event()

    def hold_the_lock() -> None:
        with container.engine.begin() as conn:
            conn.execute(t.job_state.insert().values(name="holder", last_ok=True))
            holding.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    holding.wait(timeout=10)
    with SqlUnitOfWork(container.engine) as uow:
        seen = uow.connection.execute(sa.select(sa.func.count()).select_from(t.job_state))
        uow.connection.execute(
            t.job_state.insert().values(name=f"after-{seen.scalar_one()}", last_ok=True)
        )
        uow.commit()
    holder.join()
    with container.engine.connect() as conn:
        names = set(conn.execute(sa.select(t.job_state.c.name)).scalars())
    seen_then = 1 if container.engine.dialect.name == "sqlite" else 0
    assert names == {"holder", f"after-{seen_then}"}


def test_contention_inside_a_unit_is_unavailable_and_changes_nothing(tmp_path: Path) -> None:
    """The old failure, provoked on purpose: a DEFERRED (read-only) unit reads, another
    connection commits a write, then the unit tries to write. SQLite refuses the upgrade at
    once; the unit turns that into Unavailable (503), not an unexplained OperationalError."""
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path}/e.db")
    initialise(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with (  # noqa: PT012 - the race inside the block is what is tested
            pytest.raises(Unavailable, match="database busy"),
            SqlUnitOfWork(engine, read_only=True) as uow,
        ):
            uow.connection.execute(sa.select(sa.func.count()).select_from(t.job_state))
            with engine.begin() as other:
                other.execute(t.job_state.insert().values(name="other", last_ok=True))
            uow.connection.execute(t.job_state.insert().values(name="mine", last_ok=True))
            uow.commit()
        assert count_rows(engine, "job_state") == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_read_only_unit_cannot_write_on_postgresql(pg_schema_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_schema_url)
    initialise(settings)
    engine = make_engine(pg_schema_url)
    try:
        with (
            pytest.raises(sa.exc.InternalError, match="read-only transaction"),
            SqlUnitOfWork(engine, read_only=True) as uow,
        ):
            uow.connection.execute(t.job_state.insert().values(name="x", last_ok=True))
        with SqlUnitOfWork(engine) as uow:  # the pooled connection is writable again
            uow.connection.execute(t.job_state.insert().values(name="y", last_ok=True))
            uow.commit()
        assert count_rows(engine, "job_state") == 1
    finally:
        engine.dispose()


def test_unavailable_answers_503_with_retry_after() -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/busy")
    def busy() -> None:
        raise Unavailable("database busy or unavailable (OperationalError); nothing was changed")

    response = TestClient(app).get("/busy")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(problems.UNAVAILABLE_RETRY_AFTER_S)
    assert response.json()["type"].endswith("/unavailable")
