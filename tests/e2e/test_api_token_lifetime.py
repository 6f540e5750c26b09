"""A personal token's lifetime beyond `token_max_ttl_days` (or beyond the field's bound) is
`422 invalid-input` naming `ttl_days`, as docs/api.md says (trial finding: it said `400`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.api.app import create_app
from tests.e2e.test_api_registry import staff_token

pytestmark = pytest.mark.promise("P12")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def test_too_long_a_lifetime_is_422(client: TestClient, container: Container) -> None:
    headers = staff_token(container, "ana", "support")
    cap = container.settings.token_max_ttl_days
    for days in (cap + 1, 5000):
        r = client.post("/v1/tokens", json={"label": "laptop", "ttl_days": days}, headers=headers)
        assert (r.status_code, r.json()["field"]) == (422, "ttl_days"), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/v1/tokens", json={"label": "laptop", "ttl_days": cap}, headers=headers)
    assert r.status_code == 201, r.text
