"""The worker on the real databases: runs and failures recorded in `job_state`, a failing job
never stops the others, intervals respected, and a job held by another instance is skipped
(PostgreSQL advisory lock; SQLite `flock`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import is_sqlite, make_engine
from entrusted.adapters.joblock import FileJobLock, PostgresJobLock
from entrusted.adapters.scheduler import Job, JobLock, Worker
from entrusted.bootstrap import Container

pytestmark = pytest.mark.promise("P11", "P16")


def state_row(engine: sa.Engine, name: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.job_state).where(t.job_state.c.name == name)).first()
    return None if row is None else dict(row._mapping)


def counting(calls: list[str], name: str, result: str | None = "done") -> Callable[[], str | None]:
    def run() -> str | None:
        calls.append(name)
        return result

    return run


def worker_for(container: Container, *jobs: Job) -> Worker:
    return Worker(jobs=list(jobs), lock=container.job_lock(), engine=container.engine)


def test_a_job_runs_and_its_state_records_ok(container: Container) -> None:
    calls: list[str] = []
    w = worker_for(container, Job("test.ok", 60, counting(calls, "test.ok")))
    outcome = w.run_job(w.jobs[0])
    assert (outcome.ran, outcome.ok, outcome.detail) == (True, True, "done")
    assert calls == ["test.ok"]
    row = state_row(container.engine, "test.ok")
    assert row is not None
    assert row["last_ok"] is True
    assert row["last_error"] is None
    assert row["last_started_at"] <= row["last_finished_at"]


def test_a_failing_job_is_recorded_and_the_worker_continues(container: Container) -> None:
    def boom() -> str:
        raise RuntimeError("disk full")

    calls: list[str] = []
    w = worker_for(
        container,
        Job("test.fails", 60, boom),
        Job("test.after", 60, counting(calls, "test.after")),
    )
    outcomes = w.run_due(now=1000.0)
    assert outcomes["test.fails"].ran
    assert not outcomes["test.fails"].ok
    assert outcomes["test.fails"].detail == "disk full"
    assert outcomes["test.after"].ok
    assert calls == ["test.after"]
    failed = state_row(container.engine, "test.fails")
    assert failed is not None
    assert failed["last_ok"] is False
    assert failed["last_error"] == "RuntimeError: disk full"


def test_a_later_success_clears_the_recorded_error(container: Container) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first try fails")
        return "recovered"

    w = worker_for(container, Job("test.flaky", 60, flaky))
    assert not w.run_job(w.jobs[0]).ok
    assert w.run_job(w.jobs[0]).ok
    row = state_row(container.engine, "test.flaky")
    assert row is not None
    assert (row["last_ok"], row["last_error"]) == (True, None)
    with container.engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.job_state)
            .where(t.job_state.c.name == "test.flaky")
        ).scalar_one()
    assert count == 1  # one row per job, updated in place


def test_run_due_respects_intervals(container: Container) -> None:
    calls: list[str] = []
    w = worker_for(
        container,
        Job("test.minutely", 60, counting(calls, "minutely")),
        Job("test.fast", 1, counting(calls, "fast")),
    )
    assert set(w.run_due(now=100.0)) == {"test.minutely", "test.fast"}
    assert set(w.run_due(now=101.5)) == {"test.fast"}  # the 60 s job is not due yet
    assert calls.count("minutely") == 1
    assert set(w.run_due(now=160.0)) == {"test.minutely", "test.fast"}
    assert calls.count("minutely") == 2
    assert calls.count("fast") == 3


@contextmanager
def another_instance(container: Container) -> Iterator[JobLock]:
    """A second lock standing for another Entrusted process sharing the same database."""
    if is_sqlite(container.engine):
        assert isinstance(container.job_lock(), FileJobLock)
        yield FileJobLock(container.settings.data_dir / "locks")
        return
    assert isinstance(container.job_lock(), PostgresJobLock)
    # Another engine is another connection pool, as another process would have.
    engine = make_engine(container.settings.effective_database_url)
    try:
        yield PostgresJobLock(engine)
    finally:
        engine.dispose()


def test_job_held_by_another_instance_is_skipped(container: Container) -> None:
    calls: list[str] = []
    w = worker_for(container, Job("test.exclusive", 60, counting(calls, "exclusive")))
    with another_instance(container) as other, other.hold("test.exclusive") as got:
        assert got
        outcome = w.run_job(w.jobs[0])
    assert not outcome.ran
    assert calls == []
    assert state_row(container.engine, "test.exclusive") is None
    # Released: now this instance runs it.
    assert w.run_job(w.jobs[0]).ran
    assert calls == ["exclusive"]


def test_lock_is_released_when_the_job_fails(container: Container) -> None:
    def boom() -> str:
        raise RuntimeError("fails while holding the lock")

    w = worker_for(container, Job("test.release", 60, boom))
    assert not w.run_job(w.jobs[0]).ok
    with another_instance(container) as other, other.hold("test.release") as got:
        assert got


def test_locks_on_different_jobs_do_not_block_each_other(container: Container) -> None:
    first, second = container.job_lock(), container.job_lock()
    with first.hold("test.a") as got_a, second.hold("test.b") as got_b:
        assert got_a
        assert got_b
    with first.hold("test.a") as again:
        assert again  # released on exit


HOLD_FLOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.read()
"""


def test_file_lock_held_by_another_process_skips_the_job(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FLOCK, str(locks / "test.exclusive.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with FileJobLock(locks).hold("test.exclusive") as got:
            assert not got
    finally:
        holder.communicate(timeout=10)  # closes stdin: the holder exits and drops the flock
    with FileJobLock(locks).hold("test.exclusive") as got:
        assert got
