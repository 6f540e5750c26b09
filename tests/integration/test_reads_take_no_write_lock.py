"""The mail and FTP gates' reads take no write lock (SQLite): a staff member's remembered
password, the grants and the case a login is filed under are read in read-only units, so a
login never queues behind the ledger's commits for a read, and SQLite's busy handler never
sleeps it. The oracle is SQLite's own lock: another connection holds the write lock
(`BEGIN IMMEDIATE`) while the reads run in a thread; a read that asked for the lock would
wait (busy timeout 30 s) and the thread would not finish. The planted contrast is a writing
unit, which does wait."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.bootstrap import Container

PASSWORD = "correct horse battery"
DONE_WITHIN_S = 5.0


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only (overrides the two databases): the write lock is SQLite's."""
    return f"sqlite:///{tmp_path / 'entrusted.db'}"


@contextmanager
def write_locked(container: Container) -> Iterator[None]:
    path = container.engine.url.database
    assert path
    holder = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def finishes_while_locked(container: Container, work: Callable[[], object]) -> bool:
    """Whether `work` ends while another connection holds the write lock."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with write_locked(container):
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(DONE_WITHIN_S)
        finished = not thread.is_alive()
    thread.join(60)  # the lock is released: a waiting unit goes on (or gives up) now
    assert not errors or not finished, errors
    return finished


def test_a_remembered_staff_password_is_read_without_the_write_lock(container: Container) -> None:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    container.staff.check_password("ana", PASSWORD, "192.0.2.1")  # now remembered
    assert finishes_while_locked(
        container, lambda: container.staff.check_password("ana", PASSWORD, "192.0.2.1")
    )


def test_a_grant_session_is_read_without_the_write_lock(container: Container) -> None:
    assert finishes_while_locked(
        container, lambda: container.grant_entry.resume("gss_0123456789abcdef")
    )


def test_a_writing_unit_waits_for_the_lock(container: Container) -> None:
    """The contrast: the oracle does see a unit that asks for the write lock."""

    def write() -> None:
        with SqlUnitOfWork(container.engine) as uow:
            uow.commit()

    assert not finishes_while_locked(container, write)
