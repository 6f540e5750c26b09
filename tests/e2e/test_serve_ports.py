"""A server command on a port already in use stops with one line naming the port and the exit
code of `Unavailable` (trial finding: `ftp serve` printed a traceback, `serve` and `witness
serve` exited with uvicorn's own code 3)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_serve import (  # noqa: F401 - env and installed are fixtures
    DIRECTORY_TRANSPORTS,
    env,
    installation,
    installed,
    run,
)

UNAVAILABLE_EXIT = 8  # entrypoints/cli/context.py EXIT_CODES, documented in docs/errors.md


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def assert_port_in_use(result: subprocess.CompletedProcess[str], port: int) -> None:
    assert result.returncode == UNAVAILABLE_EXIT, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: port 127.0.0.1:{port} is already in use"], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_serve_on_a_busy_port(
    tmp_path: Path, env: dict[str, str], taken: int, installed: Path  # noqa: F811
) -> None:
    data = str(installation(installed, tmp_path / "data"))
    env = {**env, **DIRECTORY_TRANSPORTS}
    result = run(env, "--data-dir", data, "serve", "--port", str(taken), "--no-worker")
    assert_port_in_use(result, taken)


@pytest.mark.slow
def test_witness_serve_on_a_busy_port(
    tmp_path: Path, env: dict[str, str], taken: int  # noqa: F811
) -> None:
    directory = tmp_path / "witness"
    made = run(env, "witness", "init", str(directory), "--name", "witness.example.com/w1")
    assert made.returncode == 0, made.stderr
    result = run(env, "witness", "serve", str(directory), "--port", str(taken))
    assert_port_in_use(result, taken)


@pytest.mark.slow
def test_ftp_serve_on_a_busy_port(
    tmp_path: Path, env: dict[str, str], taken: int, installed: Path  # noqa: F811
) -> None:
    data = str(installation(installed, tmp_path / "data"))
    env = {**env, "ENTRUSTED_FTP_BIND_PORT": str(taken)}
    assert run(env, "--data-dir", data, "ftp", "selfsigned").returncode == 0
    result = run(env, "--data-dir", data, "ftp", "serve")
    assert_port_in_use(result, taken)
