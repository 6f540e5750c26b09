"""`entrusted serve` also runs the FTPS server when `ftp_enabled` is set (issue 14 item 1):
one process answers the API and FTPS (the gate in-process), and stopping it closes the FTP
side too. The installed command, as an operator runs it."""

from __future__ import annotations

import ftplib
import io
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from entrusted.bootstrap import build
from entrusted.config import Settings
from entrusted.domain.cases import GrantEnd
from tests.e2e.test_serve import (
    DIRECTORY_TRANSPORTS,
    ENTRUSTED,
    env,
    free_port,
    run,
    stop,
    wait_for_health,
)
from tests.integration.ftp_world import FtpWorld
from tests.integration.test_ftp_cli import connect
from tests.integration.test_registry_sql import PASSWORD, staff

pytestmark = pytest.mark.promise("P9")

__all__ = ["env"]  # the fixture, imported to be found


@pytest.mark.slow
def test_serve_with_ftp_enabled_answers_ftps_and_stops_it(
    tmp_path: Path, env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    assert run(env, "--data-dir", str(data), "init").returncode == 0
    assert run(env, "--data-dir", str(data), "ftp", "selfsigned").returncode == 0
    api_port, ftp_port, low = free_port(), free_port(), 40000 + free_port() % 20000
    settings = {
        **DIRECTORY_TRANSPORTS,
        "ENTRUSTED_FTP_ENABLED": "true",
        "ENTRUSTED_FTP_BIND_PORT": str(ftp_port),
        "ENTRUSTED_FTP_PASSIVE_PORTS": f"{low}-{low + 20}",
        "ENTRUSTED_FTP_AUTH_FAILED_DELAY_S": "0",
    }
    root = tmp_path / "ftp"
    settings["ENTRUSTED_FTP_ROOT_TEMPLATE"] = str(root / "%n")
    # The test's own view of the same installation (the runner's ENTRUSTED_* settings must not
    # steer it elsewhere), to register a customer and a grant.
    c = build(Settings(data_dir=data, database_url=f"sqlite:///{data / 'entrusted.db'}",
                       mail_transport="directory", sms_transport="directory",
                       staff_totp_required=False))  # fmt: skip
    request.addfinalizer(c.close)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ENTRUSTED), "--data-dir", str(data), "serve", "--port", str(api_port),
             "--no-worker"],
            env={**env, **settings},
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            health = wait_for_health(proc, f"http://127.0.0.1:{api_port}/healthz", log_path)
            assert health.status_code == 200
            ftp = connect(ftp_port, data / "ftp.crt", proc)
            ftp.auth()
            with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
                ftp.login("office-backup", "no such space")  # the in-process gate answered
            # A staff session under a one-off grant, open when serve stops.
            world = FtpWorld(c, ftp_port, data / "ftp.crt", root)
            who = world.customer(1)
            sam = staff(c, "sam", "support")
            _, grant_id = world.grant(sam, who, read_only=True)
            idle = world.login(f"{who.name}*sam", PASSWORD)
        finally:
            stop(proc)
    assert proc.returncode == 128 + signal.SIGTERM, log_path.read_text()  # after the cleanup
    assert f"FTPS on 127.0.0.1:{ftp_port} (in-process gate)" in log_path.read_text()
    with pytest.raises((EOFError, OSError)):  # the open connection was closed
        idle.sendcmd("NOOP")
    ftp.close()
    idle.close()
    # Closing the connection closed the grant session, which ended the one-off grant.
    assert c.grants.get(sam, grant_id).end_reason is GrantEnd.USED
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", ftp_port), timeout=2):
        pass  # nothing listens any more


@pytest.mark.slow
def test_ftp_serve_on_another_host_asks_a_running_serve_over_http(
    tmp_path: Path, env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """Two processes as two hosts would run them: `entrusted serve` (the API) and `entrusted
    ftp serve` with `ftp_gate_url`, which has no database of its own."""
    data, ftp_host = tmp_path / "data", tmp_path / "ftp-host"
    assert run(env, "--data-dir", str(data), "init").returncode == 0
    assert run(env, "--data-dir", str(ftp_host), "ftp", "selfsigned").returncode == 0
    c = build(Settings(data_dir=data, database_url=f"sqlite:///{data / 'entrusted.db'}",
                       mail_transport="directory", sms_transport="directory",
                       staff_totp_required=False))  # fmt: skip
    request.addfinalizer(c.close)
    token_file = tmp_path / "ftp_server.token"
    token_file.write_text(c.staff.issue_service_token("ftp_server", "ftp host").secret)
    token_file.chmod(0o600)
    api_port, ftp_port, low = free_port(), free_port(), 40000 + free_port() % 20000
    root = tmp_path / "ftp"
    ftp_env = {
        **env,
        "ENTRUSTED_FTP_GATE_URL": f"http://127.0.0.1:{api_port}",
        "ENTRUSTED_FTP_GATE_TOKEN_FILE": str(token_file),
        "ENTRUSTED_FTP_BIND_PORT": str(ftp_port),
        "ENTRUSTED_FTP_PASSIVE_PORTS": f"{low}-{low + 20}",
        "ENTRUSTED_FTP_ROOT_TEMPLATE": str(root / "%n"),
        "ENTRUSTED_FTP_AUTH_FAILED_DELAY_S": "0",
    }
    api_log, ftp_log = (tmp_path / "serve.log").open("wb"), (tmp_path / "ftp.log").open("wb")
    api = subprocess.Popen(
        [str(ENTRUSTED), "--data-dir", str(data), "serve", "--port", str(api_port),
         "--no-worker"],
        env={**env, **DIRECTORY_TRANSPORTS}, stdout=api_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    ftp_proc = subprocess.Popen(
        [str(ENTRUSTED), "--data-dir", str(ftp_host), "ftp", "serve"],
        env=ftp_env, stdout=ftp_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_health(api, f"http://127.0.0.1:{api_port}/healthz", tmp_path / "serve.log")
        world = FtpWorld(c, ftp_port, ftp_host / "ftp.crt", root)
        who = world.customer(1)
        connect(ftp_port, ftp_host / "ftp.crt", ftp_proc).close()  # wait until it listens
        mine = world.login(who.name, who.password)
        mine.storbinary("STOR db.sql", io.BytesIO(b"dump"))
        assert mine.nlst() == ["db.sql"]
        mine.quit()
    finally:
        stop(ftp_proc)
        stop(api)
        api_log.close()
        ftp_log.close()
    assert ftp_proc.returncode == 0, (tmp_path / "ftp.log").read_text()  # SIGTERM: a clean stop
    assert not (ftp_host / "entrusted.db").exists()  # the FTP host kept no database
