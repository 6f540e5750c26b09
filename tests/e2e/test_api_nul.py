"""A NUL character in a request's query or body is refused with 422 before any route runs (trial
finding: a NUL in a login name answered 500 on PostgreSQL, which cannot store it in text),
on SQLite and PostgreSQL, and nothing is written: the ledger does not grow. (A NUL in the
path reaches the route, whose id check refuses it and ledgers it: test_api_bad_ids.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.api.app import create_app

pytestmark = pytest.mark.promise("P3", "P12")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def size(container: Container) -> int:
    return container.ledger_store.stored_size()


@pytest.mark.parametrize(
    ("method", "url", "content", "where"),
    [
        ("POST", "/v1/auth/login", '{"username": "x\\u0000", "password": "y"}', "body"),
        ("POST", "/v1/auth/login", b'{"username": "x\x00", "password": "y"}', "body"),
        ("POST", "/v1/ftp/login", '{"username": "a*b\\u0000", "password": "p"}', "body"),
        ("GET", "/v1/cases?customer_id=cus_1%00", None, "query"),
    ],
)
def test_a_nul_is_refused_before_any_route(
    client: TestClient, container: Container, method: str, url: str, content: object, where: str
) -> None:
    before = size(container)
    r = client.request(method, url, content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/invalid-input")
    assert r.json()["detail"].startswith(f"{where}:")
    assert size(container) == before


def test_a_body_without_nul_still_reaches_the_route(client: TestClient) -> None:
    r = client.post("/v1/auth/login", json={"username": "nobody", "password": "wrong"})
    assert r.status_code == 401
