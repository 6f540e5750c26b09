"""The installed `entrusted ftp ...` commands as an operator runs them: `selfsigned` writes a
certificate and a 0600 key once, and `serve` answers FTPS on its port (TLS first, a wrong
login refused) until it is stopped by its PID."""

from __future__ import annotations

import ftplib
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_serve import ENTRUSTED, env, free_port, run, stop

pytestmark = pytest.mark.promise("P9")

__all__ = ["env"]  # the fixture, imported to be found
STARTUP_S = 20.0


def connect(port: int, cert: Path, proc: subprocess.Popen[bytes]) -> ftplib.FTP_TLS:
    context = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + STARTUP_S
    while True:
        assert proc.poll() is None, "entrusted ftp serve exited"
        ftp = ftplib.FTP_TLS(context=context, timeout=10)
        try:
            ftp.connect("127.0.0.1", port)
        except OSError:
            ftp.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        return ftp


def test_selfsigned_then_serve_answers_ftps_only(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "data"
    assert run(env, "--data-dir", str(data), "init").returncode == 0
    made = run(env, "--data-dir", str(data), "ftp", "selfsigned")
    assert made.returncode == 0, made.stderr
    cert, key = data / "ftp.crt", data / "ftp.key"
    assert key.stat().st_mode & 0o777 == 0o600
    again = run(env, "--data-dir", str(data), "ftp", "selfsigned")
    assert again.returncode != 0  # never overwrites a key
    assert "exists" in again.stdout + again.stderr
    port, low = free_port(), 40000 + free_port() % 20000
    settings = {
        "ENTRUSTED_FTP_BIND_PORT": str(port),
        "ENTRUSTED_FTP_PASSIVE_PORTS": f"{low}-{low + 20}",
        "ENTRUSTED_FTP_AUTH_FAILED_DELAY_S": "0",
    }
    log_path = tmp_path / "ftp.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ENTRUSTED), "--data-dir", str(data), "ftp", "serve"],
            env={**env, **settings},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ftp = connect(port, cert, proc)
            with pytest.raises(ftplib.error_perm, match="550 SSL/TLS required"):
                ftp.sendcmd("USER office-backup")
            ftp.auth()
            with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
                ftp.login("office-backup", "no such space")
            ftp.close()
        finally:
            stop(proc)
