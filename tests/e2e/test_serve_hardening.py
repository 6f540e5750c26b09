"""Issue 11 items 10 and 12 against the installed `entrusted serve` (real uvicorn on a free
port): X-Forwarded-For from 127.0.0.1 is not believed unless configured, an address in a URL
never reaches the access log, and an unreachable database stops the start with one line and
the exit code of `Unavailable`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import ENTRUSTED, free_port, run, stop, wait_for_health

pytestmark = pytest.mark.promise("P2", "P12")

UNAVAILABLE_EXIT = 8  # entrypoints/cli/context.py EXIT_CODES, documented in docs/errors.md


@pytest.fixture
def serve_env() -> dict[str, str]:
    """The runner's own ENTRUSTED_* settings must not steer the subprocess; these do."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("ENTRUSTED_")}
    return {
        **clean,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "ENTRUSTED_MAIL_TRANSPORT": "directory",
        "ENTRUSTED_SMS_TRANSPORT": "directory",
        "ENTRUSTED_LOGIN_MAX_FAILURES_PER_ADDRESS": "3",
    }


@pytest.mark.slow
def test_served_limits_see_the_real_client_and_logs_no_address(
    tmp_path: Path, serve_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    init = run(serve_env, "--data-dir", str(data), "init")
    assert init.returncode == 0, init.stderr
    port = free_port()
    log_path = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ENTRUSTED), "--data-dir", str(data), "serve", "--port", str(port), "--no-worker"],
            env=serve_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_health(proc, base + "/healthz", log_path)
            statuses = [
                httpx.post(
                    base + "/v1/auth/login",
                    json={"username": f"nobody{n}", "password": "wrong password"},
                    headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
                    timeout=10,
                ).status_code
                for n in range(6)
            ]
            metadata = httpx.get(base + "/v1/mailboxes/info@example.org/metadata", timeout=10)
        finally:
            stop(proc)
    assert 429 in statuses, statuses  # before: uvicorn believed the header from 127.0.0.1
    assert metadata.status_code == 401
    logged = log_path.read_text(encoding="utf-8", errors="replace")
    assert "/v1/mailboxes/[address]/metadata" in logged
    assert "info@example.org" not in logged
    assert "198.51.100." not in logged


@pytest.mark.slow
def test_an_unreachable_database_is_one_line_and_its_exit_code(
    tmp_path: Path, serve_env: dict[str, str]
) -> None:
    url = "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/none"
    result = run(serve_env, "--data-dir", str(tmp_path / "d"), "--database-url", url, "serve",
                 "--port", str(free_port()), "--no-worker")
    assert result.returncode == UNAVAILABLE_EXIT, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "unreachable" in lines[0]
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
