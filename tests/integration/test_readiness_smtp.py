"""`/readyz` asks the real SMTP relay (aiosmtpd on loopback): ready while it answers EHLO,
503 naming `smtp` when nothing listens; and the worker's routine ticks log at DEBUG, so INFO
lines mean something happened."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from fastapi.testclient import TestClient

from entrusted.adapters.scheduler import Job
from entrusted.bootstrap import Container, initialise
from entrusted.config import Settings
from entrusted.entrypoints.api.app import create_app
from tests.conftest import FakeClock
from tests.integration.mail_support import Relay, built, relay, smtp_settings
from tests.integration.test_smtp_adapter import free_port

pytestmark = pytest.mark.promise("P13")

__all__ = ["relay"]  # the fixture, imported to be found


def ready(settings: Settings, clock: FakeClock) -> tuple[int, dict[str, object]]:
    with built(settings, clock) as c, TestClient(create_app(container=c)) as client:
        r = client.get("/readyz")
        return r.status_code, r.json()


def test_readyz_asks_the_relay(
    database_url: str, tmp_path: Path, relay: Relay, clock: FakeClock
) -> None:
    settings = smtp_settings(database_url, tmp_path, relay.port, readiness_timeout_s=1.0)
    initialise(settings)
    status, body = ready(settings, clock)
    assert (status, body["failed"]) == (200, []), body
    assert body["checks"] == {  # type: ignore[comparison-overlap]
        "database": "ok",
        "ledger": "ok",
        "backups": "ok",
        "keys": "ok",
        "smtp": "ok",
    }
    assert relay.recorder.raw == []  # asked, nothing sent
    relay.stop()
    status, body = ready(settings.model_copy(update={"smtp_port": free_port()}), clock)
    assert (status, body["failed"]) == (503, ["smtp"])
    assert "unreachable" in str(body["checks"]["smtp"])  # type: ignore[index]


def test_routine_worker_ticks_log_at_debug(container: Container) -> None:
    worker = container.worker()
    jobs = {job.name: job for job in container.jobs}
    worker.run_job(jobs["ledger.checkpoint"])  # the first checkpoint: something happened
    # An earlier test's CLI may have left a WARNING filter in structlog's configuration, which
    # drops DEBUG and INFO before `capture_logs` sees them: start from the defaults.
    structlog.reset_defaults()
    with structlog.testing.capture_logs() as events:
        for name in ("ledger.checkpoint", "outbox.deliver", "grants.expire", "mailings.send"):
            worker.run_job(jobs[name])  # nothing to sign, deliver, expire or send
        worker.run_job(Job("test.did-something", 60, lambda: "3 things done"))
    levels = {(e["event"], e.get("job")): e["log_level"] for e in events}
    for name in ("ledger.checkpoint", "outbox.deliver", "grants.expire", "mailings.send"):
        assert levels[("job.ran", name)] == "debug", events
    assert levels[("job.ran", "test.did-something")] == "info"
