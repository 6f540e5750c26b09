"""The HTTP skeleton: health, bearer authentication, RFC 9457 problems naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.api.app import create_app
from tests.conftest import count_rows

pytestmark = pytest.mark.promise("P8", "P12")

PASSWORD = "correct horse battery"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def test_healthz_and_readyz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert (r.status_code, r.json()["status"]) == (200, "ok")
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"


def test_login_then_me(client: TestClient, container: Container) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    r = client.post("/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["roles"] == ["support"]
    created = client.post(
        "/v1/tokens", json={"label": "ci"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201
    assert created.json()["token"] != token


def test_missing_and_bad_tokens_are_401_problems(client: TestClient) -> None:
    r = client.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/authentication-failed")
    assert client.get("/v1/me", headers={"Authorization": "Bearer ent_nope"}).status_code == 401


def test_wrong_password_is_401_and_rate_limited(client: TestClient, container: Container) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    for _ in range(5):
        r = client.post("/v1/auth/login", json={"username": "ana", "password": "nope-nope-nope"})
        assert r.status_code == 401
    r = client.post("/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0


def test_validation_error_names_field_and_writes_nothing(
    client: TestClient, container: Container
) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    token = client.post("/v1/auth/login", json={"username": "ana", "password": PASSWORD}).json()[
        "token"
    ]
    before = count_rows(container.engine, "api_token")
    r = client.post(
        "/v1/tokens",
        json={"label": "x", "ttl_days": 0},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "ttl_days"
    assert count_rows(container.engine, "api_token") == before


def test_openapi_lists_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/v1/auth/login", "/v1/me", "/v1/tokens"} <= set(paths)
