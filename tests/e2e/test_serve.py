"""The installed `entrusted` command as an operator runs it: `serve` answers `/healthz`, and
`demo --no-serve` walks through the gate and exits 0."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from entrusted.crypto.key_backup import describe

pytestmark = pytest.mark.promise("P3", "P12")

ENTRUSTED = Path(sys.executable).with_name("entrusted")
STARTUP_S = 20.0
# The explicit choice that lets serve and worker start with no relay: files under the data dir.
DIRECTORY_TRANSPORTS = {
    "ENTRUSTED_MAIL_TRANSPORT": "directory",
    "ENTRUSTED_SMS_TRANSPORT": "directory",
}


@pytest.fixture
def env() -> dict[str, str]:
    """The test runner's own ENTRUSTED_* settings must not steer the subprocess."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("ENTRUSTED_")}
    return {**clean, "COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `entrusted init` per module (about 3 s each); a test that needs an installation but
    is not about making one serves, or refuses, a copy of it (`installation`)."""
    path = tmp_path_factory.mktemp("installed") / "data"
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("ENTRUSTED_")}
    init = run({**clean, "COLUMNS": "200", "NO_COLOR": "1"}, "--data-dir", str(path), "init")
    assert init.returncode == 0, init.stderr
    return path


def installation(installed: Path, to: Path) -> Path:
    """A copy of the module's installation at `to`: database, key files and their modes."""
    shutil.copytree(installed, to)
    return to


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert ENTRUSTED.exists(), f"{ENTRUSTED} is not installed: run make install"
    return subprocess.run(
        [str(ENTRUSTED), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_serve_answers_healthz(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "data"
    init = run(env, "--data-dir", str(data), "init")
    assert init.returncode == 0, init.stderr
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ENTRUSTED), "--data-dir", str(data), "serve", "--port", str(port), "--no-worker"],
            env={**env, **DIRECTORY_TRANSPORTS},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            response = wait_for_health(proc, f"http://127.0.0.1:{port}/healthz", log_path)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        finally:
            stop(proc)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"


def wait_for_health(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited early:\n" + _read(log_path)
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"no answer on {url} within {STARTUP_S} s:\n" + _read(log_path))


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


@pytest.mark.slow
def test_demo_without_serving_walks_through_the_gate(tmp_path: Path, env: dict[str, str]) -> None:
    # A database URL in the environment names someone's real installation: never the demo's.
    elsewhere = {**env, "ENTRUSTED_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    del elsewhere["COLUMNS"]  # as a pipe or a CI log sees it: no width to wrap to
    result = run(elsewhere, "demo", "--data-dir", str(tmp_path / "demo"), "--no-serve")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the gate" in result.stdout
    assert "refused" in result.stdout
    assert "allowed" in result.stdout
    assert "not serving (--no-serve)" in result.stdout
    # Off a terminal, without COLUMNS, lines are not wrapped at 80: a line can be found whole.
    assert any(
        "claiming the sysadmin role: refused (gate.invalid-request; ledger #" in line
        for line in result.stdout.splitlines()
    ), result.stdout
    assert (tmp_path / "demo" / "entrusted.db").exists()
    # The demo's mail went to files, and it says where.
    outgoing = (tmp_path / "demo" / "outgoing" / "mail").resolve()
    assert len(list(outgoing.glob("*.eml"))) >= 5
    assert "e-mail(s) written to" in result.stdout
    assert "outgoing/mail" in "".join(result.stdout.split())
    # Running it at a hoster: the units and Dovecot files written, the keys sealed and the
    # backup readable with the published demo passphrase.
    hoster = tmp_path / "demo" / "hoster"
    assert len(list((hoster / "systemd").glob("*.service"))) == 5
    assert (hoster / "dovecot" / "conf.d" / "90-entrusted.conf").is_file()
    kinds = [k["kind"] for k in describe((hoster / "entrusted-keys.backup").read_bytes())]
    assert kinds == ["master", "index", "signing"]


@pytest.mark.slow
def test_demo_refuses_to_wipe_a_directory_it_did_not_make(
    tmp_path: Path, env: dict[str, str], installed: Path
) -> None:
    data = installation(installed, tmp_path / "prod")
    (data / "important.txt").write_text("keep me")
    before = sorted(p.name for p in data.iterdir())
    result = run(env, "demo", "--data-dir", str(data), "--no-serve", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "was not made by `entrusted demo`" in " ".join(result.stderr.split())
    assert sorted(p.name for p in data.iterdir()) == before
    assert (data / "important.txt").read_text() == "keep me"


@pytest.mark.slow
def test_serve_and_worker_refuse_to_start_without_a_way_to_send(
    tmp_path: Path, env: dict[str, str], installed: Path
) -> None:
    data = installation(installed, tmp_path / "data")
    for command in (["serve", "--port", str(free_port())], ["worker", "--once"]):
        result = run(env, "--data-dir", str(data), *command, timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        said = " ".join((result.stdout + result.stderr).split())
        assert "no mail transport is configured; set smtp_host" in said
        assert "no SMS transport is configured" in said
    only_mail = {**env, "ENTRUSTED_MAIL_TRANSPORT": "directory"}
    result = run(only_mail, "--data-dir", str(data), "worker", "--once", timeout=60)
    assert result.returncode == 2
    assert "no SMS transport" in " ".join(result.stderr.split())
    result = run({**env, **DIRECTORY_TRANSPORTS}, "--data-dir", str(data), "worker", "--once")
    assert result.returncode == 0, result.stderr
    assert "outbox.deliver: ok nothing to do" in result.stdout


def test_a_command_without_an_installation_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    missing = tmp_path / "nothing-here"
    result = run(env, "--data-dir", str(missing), "staff", "list", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"no Entrusted installation in {missing}: run `entrusted init`" in said
    assert not (missing / "entrusted.db").exists()  # nothing was created on the way
