"""Issue 17 item 4 with real uvicorn processes on free loopback ports: `serve --role` splits the
public API from the mail and FTP login hooks (each listener answers 404 for the other's
routes), a public hooks address is refused, and X-Forwarded-For is believed only from a
configured proxy (rightmost untrusted hop), for the login limits and the access log alike."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import (  # noqa: F401 - env is a fixture
    DIRECTORY_TRANSPORTS,
    ENTRUSTED,
    _read,
    env,
    free_port,
    installation,
    installed,
    run,
    stop,
)

STARTUP_S = 90.0
HOOKS = [("POST", "/v1/gate/mail-login"), ("POST", "/v1/ftp/login"), ("POST", "/v1/ftp/logout")]
PUBLIC = [("POST", "/v1/auth/login"), ("GET", "/v1/me"), ("GET", "/openapi.json")]


@pytest.fixture
def data(tmp_path: Path, installed: Path) -> Path:  # noqa: F811
    return installation(installed, tmp_path / "data")


@contextmanager
def serving(
    environ: dict[str, str], data: Path, health: str, *args: str, log: Path, **more: str
) -> Iterator[Path]:
    """`entrusted serve ARGS` until the block ends; yields its log file."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(ENTRUSTED), "--data-dir", str(data), "serve", "--no-worker", *args],
            env={**environ, **DIRECTORY_TRANSPORTS, **more},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_up(proc, health, log)
            yield log
        finally:
            stop(proc)


def wait_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """As test_serve's `wait_for_health`, with room for three servers starting at once on a
    busy machine."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited early:\n" + _read(log)
        try:
            assert httpx.get(url, timeout=2).status_code == 200
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"no answer on {url} within {STARTUP_S} s:\n" + _read(log))


def status(base: str, method: str, path: str, **kw: object) -> int:
    return httpx.request(method, base + path, json={}, timeout=5, **kw).status_code  # type: ignore[arg-type]


def assert_public(base: str) -> None:
    for method, path in HOOKS:
        assert status(base, method, path) == 404, f"{path} on the public listener"
    assert status(base, "POST", "/v1/auth/login") == 422  # there, and it checks its body
    assert status(base, "GET", "/v1/me") == 401
    paths = httpx.get(base + "/openapi.json", timeout=5).json()["paths"]
    assert "/v1/auth/login" in paths
    assert not [p for p in paths if p.startswith(("/v1/gate/", "/v1/ftp/"))]


def assert_hooks(base: str) -> None:
    for method, path in HOOKS:  # there, and they want the server's token
        assert status(base, method, path) == 401, f"{path} on the hooks listener"
    for method, path in PUBLIC:
        assert status(base, method, path) == 404, f"{path} on the hooks listener"
    assert httpx.get(base + "/healthz", timeout=5).json()["status"] in {"ok", "degraded"}


@pytest.mark.slow
def test_role_all_with_hooks_listen_serves_each_socket_its_own_routes(
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
    data: Path,
) -> None:
    port, hooks_port = free_port(), free_port()
    public, hooks = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{hooks_port}"
    with serving(env, data, public + "/healthz", "--port", str(port), log=tmp_path / "all.log",
                 ENTRUSTED_HOOKS_LISTEN=f"127.0.0.1:{hooks_port}") as log:  # fmt: skip
        assert_public(public)
        assert_hooks(hooks)
        said = _read(log)
    assert f"public API on http://127.0.0.1:{port}" in said
    assert f"hooks on http://127.0.0.1:{hooks_port}" in said


@pytest.mark.slow
def test_role_all_without_hooks_listen_serves_everything_on_one_socket(
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
    data: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(env, data, base + "/healthz", "--port", str(port), log=tmp_path / "one.log"):
        for method, path in HOOKS:
            assert status(base, method, path) == 401
        assert status(base, "GET", "/v1/me") == 401


@pytest.mark.slow
def test_public_and_hooks_instances_side_by_side(
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
    data: Path,
) -> None:
    port, other, hooks_port = free_port(), free_port(), free_port()
    hooks_listen = {"ENTRUSTED_HOOKS_LISTEN": f"127.0.0.1:{hooks_port}"}
    hooks = f"http://127.0.0.1:{hooks_port}"
    with (
        serving(env, data, f"http://127.0.0.1:{port}/healthz", "--role", "public",
                "--port", str(port), log=tmp_path / "a.log", **hooks_listen),
        serving(env, data, f"http://127.0.0.1:{other}/healthz", "--role", "public",
                "--port", str(other), log=tmp_path / "b.log", **hooks_listen),
        serving(env, data, hooks + "/healthz", "--role", "hooks", log=tmp_path / "h.log",
                **hooks_listen),
    ):  # fmt: skip
        assert_public(f"http://127.0.0.1:{port}")
        assert_public(f"http://127.0.0.1:{other}")
        assert_hooks(hooks)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("0.0.0.0:{port}", "0.0.0.0 listens on every interface, public ones too"),
        ("[::]:{port}", ":: listens on every interface, public ones too"),
        ("hooks.example.com:{port}", "hooks.example.com is a host name"),
    ],
)
def test_hooks_on_a_public_address_are_refused(
    env: dict[str, str],  # noqa: F811
    data: Path,
    address: str,
    why: str,
) -> None:
    port = free_port()
    more = {**DIRECTORY_TRANSPORTS, "ENTRUSTED_HOOKS_LISTEN": address.format(port=port)}
    result = run({**env, **more}, "--data-dir", str(data), "serve", "--role", "hooks",
                 "--no-worker", timeout=60)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"hooks_listen: {why}" in said
    assert "hooks_allow_public_address" in said
    assert "Traceback" not in said


def _fail_logins(base: str, forwarded: list[str]) -> list[httpx.Response]:
    answers = []
    for n, header in enumerate(forwarded):
        body = {"username": f"nobody{n}", "password": "wrong password"}
        answers.append(httpx.post(base + "/v1/auth/login", json=body, timeout=10,
                                  headers={"x-forwarded-for": header}))  # fmt: skip
    return answers


def _counted_addresses(data: Path) -> list[str]:
    with sqlite3.connect(data / "entrusted.db") as db:
        return [row[0] for row in db.execute("SELECT address FROM login_failure ORDER BY id")]


LIMIT = {"ENTRUSTED_LOGIN_MAX_FAILURES_PER_ADDRESS": "3"}
LIMITED = "too many failed logins from this address"


@pytest.mark.slow
def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
    data: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(env, data, base + "/healthz", "--port", str(port), log=tmp_path / "s.log",
                 **LIMIT):  # fmt: skip
        answers = _fail_logins(base, [f"198.51.100.{n}" for n in range(1, 6)])
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert LIMITED in answers[3].json()["detail"]
    assert set(_counted_addresses(data)) == {"127.0.0.1"}


@pytest.mark.slow
def test_a_trusted_proxy_is_honoured_rightmost_untrusted_hop_first(
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
    data: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proxies = {"ENTRUSTED_TRUSTED_PROXIES": json.dumps(["127.0.0.0/8", "10.0.0.0/8"]), **LIMIT}
    with serving(env, data, base + "/healthz", "--port", str(port), log=tmp_path / "t.log",
                 **proxies) as log:  # fmt: skip
        # Each client behind the proxy is its own address: five clients, nobody limited.
        rotating = _fail_logins(base, [f"198.51.100.{n}" for n in range(1, 6)])
        # One client that writes its own X-Forwarded-For: the proxy appends the address it
        # saw, then a second (trusted) proxy hop; the rightmost untrusted hop is the client.
        spoofing = _fail_logins(base, [f"203.0.113.{n}, 198.51.100.99, 10.0.0.2"
                                       for n in range(1, 6)])  # fmt: skip
        said = _read(log)
    assert [a.status_code for a in rotating] == [401] * 5
    assert [a.status_code for a in spoofing] == [401, 401, 401, 429, 429]
    assert LIMITED in spoofing[3].json()["detail"]
    counted = _counted_addresses(data)
    assert counted == [f"198.51.100.{n}" for n in range(1, 6)] + ["198.51.100.99"] * 3
    assert "198.51.100.99:0 - " in said  # the access log names the client, not the proxy
