"""Issue 11 items 10, 11, 12, 13 and 14 against the real app on a real SQLite file: the body
limit, one problem shape for every 4xx, the OpenAPI's error answers, the security headers,
the docs off by default, X-Forwarded-For only from configured proxies, no address in an
access-log line, no SQL parameter in an error, and the file modes checked at start."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.entrypoints.api.app import create_app
from entrusted.entrypoints.api.middleware import RedactAddresses, redact_path
from entrusted.errors import InvalidInput

pytestmark = pytest.mark.promise("P2", "P12")

PROBLEM = "application/problem+json"
LIMIT = 4096


def make(tmp_path: Path, **overrides: object) -> Container:
    settings = Settings(
        data_dir=tmp_path / "data", max_body_bytes=LIMIT, login_max_failures_per_address=5,
        **overrides,  # type: ignore[arg-type]
    )
    initialise(settings)
    return build(settings)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    container = make(tmp_path)
    try:
        with TestClient(create_app(container=container)) as c:
            yield c
    finally:
        container.close()


def test_a_body_over_the_limit_is_refused_before_it_is_read(client: TestClient) -> None:
    declared = client.post("/v1/customers", content=b"x" * (LIMIT + 1),
                           headers={"content-type": "application/json"})
    assert (declared.status_code, declared.headers["content-type"]) == (413, PROBLEM)
    assert declared.json()["type"].endswith("/too-large")
    read: list[int] = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        for n in range(50):
            read.append(n)
            yield b"y" * 1024

    streamed = client.post("/v1/customers", content=chunks(),
                           headers={"content-type": "application/json"})
    assert (streamed.status_code, streamed.headers["content-type"]) == (413, PROBLEM)
    ok = client.post("/v1/customers", json={"first_name": "A"})  # small: reaches the route
    assert ok.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/customers/login", b"{not json", 400),
        ("POST", "/v1/customers/login", b'{"email": "\xff\xfe"}', 400),
        ("POST", "/v1/customers/login", b'{"email": 1}', 422),
        ("GET", "/v1/no-such-route", b"", 404),
        ("DELETE", "/healthz", b"", 405),
        ("GET", "/v1/grants/gnt_x", b"", 401),
    ],
)
def test_every_4xx_is_a_problem_body(
    client: TestClient, method: str, path: str, body: bytes, status: int
) -> None:
    r = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert (r.status_code, r.headers["content-type"]) == (status, PROBLEM), r.text
    assert {"type", "title", "status", "detail"} <= r.json().keys()
    assert r.json()["status"] == status


def test_the_openapi_documents_problem_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    revoke = spec["paths"]["/v1/grants/{grant_id}/revoke"]["post"]["responses"]
    for status in ("401", "403", "404", "409", "413", "422"):
        assert PROBLEM in revoke[status]["content"], status
        assert "application/json" not in revoke[status]["content"]
    assert spec["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail"
    ]
    health = spec["paths"]["/healthz"]["get"]["responses"]
    assert "401" not in health  # no token asked, so none can be wrong


def test_security_headers_and_no_docs_by_default(client: TestClient) -> None:
    for r in (client.get("/healthz"), client.get("/v1/grants/gnt_x"), client.get("/nope")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def _fail_logins(client: TestClient, rotate: bool) -> list[int]:
    statuses = []
    for n in range(8):
        headers = {"x-forwarded-for": f"198.51.100.{n + 1}"} if rotate else {}
        body = {"username": f"nobody{n}", "password": "wrong password"}
        statuses.append(client.post("/v1/auth/login", json=body, headers=headers).status_code)
    return statuses


def test_a_rotating_forwarded_header_does_not_evade_the_limit(client: TestClient) -> None:
    assert 429 in _fail_logins(client, rotate=True)


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    container = make(tmp_path, trusted_proxies=("192.0.2.0/24",))
    try:
        with TestClient(create_app(container=container), client=("192.0.2.7", 50000)) as c:
            assert 429 not in _fail_logins(c, rotate=True)  # each address is its own client
    finally:
        container.close()


def test_access_log_paths_carry_no_address() -> None:
    assert redact_path("/v1/mailboxes/info@example.org/metadata") == (
        "/v1/mailboxes/[address]/metadata"
    )
    assert redact_path("/v1/mailboxes/info%40example.org/metadata?x=a%40b.example") == (
        "/v1/mailboxes/[address]/metadata?x=[address]"
    )
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/v1/mailboxes/a@example.org/metadata",
                                "1.1", 200), None)
    assert RedactAddresses().filter(record)
    assert "example.org" not in record.getMessage()


def test_sql_errors_carry_no_parameters(tmp_path: Path) -> None:
    container = make(tmp_path)
    try:
        with pytest.raises(sa.exc.SQLAlchemyError) as caught, container.engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM no_such_table WHERE x = :x"),
                         {"x": "secret@example.org"})
        assert "secret@example.org" not in str(caught.value)
        assert "hidden due to hide_parameters" in str(caught.value)
    finally:
        container.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_modes_are_tightened_or_refused_at_start(tmp_path: Path) -> None:
    container = make(tmp_path)
    data = tmp_path / "data"
    try:
        assert _mode(data) == 0o700
        assert _mode(data / "entrusted.db") == 0o600  # init tightened what the umask gave
        data.chmod(0o755)
        (data / "master.key").chmod(0o644)
        notes = container.start(deployed_by="test")
        assert any("master.key from 0644 to 0600" in n for n in notes)
        assert (_mode(data), _mode(data / "master.key")) == (0o700, 0o600)
        assert _mode(data / "entrusted.db-wal") == 0o600
    finally:
        container.close()
    strict = build(Settings(data_dir=data, fix_file_modes=False))
    try:
        (data / "entrusted.db").chmod(0o640)
        with pytest.raises(InvalidInput) as refused:
            strict.start(deployed_by="test")
        assert "entrusted.db is 0640" in refused.value.message
        assert f"chmod 600 {data / 'entrusted.db'}" in refused.value.message
    finally:
        strict.close()
