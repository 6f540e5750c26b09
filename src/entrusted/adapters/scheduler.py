"""The scheduler behind `entrusted worker`: periodic jobs (grant expiry, backup retention,
checkpoint signing) that areas register in the composition root. Each run takes a
cross-process lock, so several instances never double-run a job; every run and failure is
logged as a structured event and recorded in `job_state`.

A job returns what it did, or None when there was nothing to do: those routine runs are logged
at DEBUG, so a worker ticking every few seconds stays quiet at INFO until something happens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
import structlog

from entrusted.adapters.db import tables as t

log = structlog.get_logger("entrusted.worker")


class JobLock(Protocol):
    def hold(self, name: str) -> AbstractContextManager[bool]: ...


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[], str | None]  # None: nothing happened (logged at DEBUG)


@dataclass(slots=True)
class Outcome:
    ran: bool
    ok: bool = True
    detail: str | None = None


@dataclass
class Worker:
    jobs: list[Job]
    lock: JobLock
    engine: sa.Engine
    observe: Callable[[str, bool], None] | None = None  # (job, ok) of every run: the metrics
    _next_due: dict[str, float] = field(default_factory=dict)

    def run_job(self, job: Job) -> Outcome:
        with self.lock.hold(job.name) as got:
            if not got:
                log.debug("job.skipped", job=job.name, reason="running on another instance")
                return Outcome(ran=False)
            started = datetime.now(UTC)
            try:
                detail = job.run()
            except Exception as exc:  # noqa: BLE001 - a failing job must not stop the worker
                self._record(job.name, started, ok=False, error=f"{type(exc).__name__}: {exc}")
                self._observe(job.name, ok=False)
                log.error("job.failed", job=job.name, error=type(exc).__name__, message=str(exc))
                return Outcome(ran=True, ok=False, detail=str(exc))
            self._record(job.name, started, ok=True, error=None)
            self._observe(job.name, ok=True)
            if detail is None:
                log.debug("job.ran", job=job.name, detail="nothing to do")
            else:
                log.info("job.ran", job=job.name, detail=detail)
            return Outcome(ran=True, ok=True, detail=detail)

    def _observe(self, name: str, ok: bool) -> None:
        if self.observe is not None:
            self.observe(name, ok)

    def run_due(self, now: float | None = None) -> dict[str, Outcome]:
        now = time.monotonic() if now is None else now
        outcomes = {}
        for job in self.jobs:
            if self._next_due.get(job.name, 0.0) <= now:
                outcomes[job.name] = self.run_job(job)
                self._next_due[job.name] = now + job.interval_s
        return outcomes

    def run_forever(self, stop: threading.Event, tick_s: float = 0.5) -> None:
        log.info("worker.started", jobs=[j.name for j in self.jobs])
        while not stop.is_set():
            self.run_due()
            stop.wait(tick_s)
        log.info("worker.stopped")

    def _record(self, name: str, started: datetime, ok: bool, error: str | None) -> None:
        values = {
            "last_started_at": started,
            "last_finished_at": datetime.now(UTC),
            "last_ok": ok,
            "last_error": error[:500] if error else None,
        }
        try:
            with self.engine.begin() as conn:
                updated = conn.execute(
                    t.job_state.update().where(t.job_state.c.name == name).values(**values)
                )
                if updated.rowcount == 0:
                    conn.execute(t.job_state.insert().values(name=name, **values))
        except sa.exc.SQLAlchemyError as exc:
            log.error("job.state_unrecorded", job=name, error=type(exc).__name__)


@dataclass(frozen=True, slots=True)
class LastRun:
    """What `job_state` holds of a job's last run (the worker's `_record` writes it)."""

    finished_at: datetime
    ok: bool
    error: str | None


def last_runs(engine: sa.Engine) -> dict[str, LastRun]:
    """The last finished run of every job that has finished one (for the metrics)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.job_state).where(t.job_state.c.last_finished_at.is_not(None))
        ).all()
    return {str(r.name): LastRun(r.last_finished_at, bool(r.last_ok), r.last_error) for r in rows}


def last_run(engine: sa.Engine, name: str) -> LastRun | None:
    """The last finished run of job `name`, or None if it never finished."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.job_state).where(t.job_state.c.name == name)).first()
    if row is None or row.last_finished_at is None:
        return None
    return LastRun(row.last_finished_at, row.last_ok, row.last_error)
