"""Request bodies are taken as written or refused (trial findings): a field no model names is a
422 naming it, where it was dropped in silence (a misspelt `readonly` would have been granted
with the default, wider scope); a JSON object naming a key twice is a 422 before any route
(parsers disagree on which one counts); nesting too deep for the parser is a 422, never a
500. Each changes nothing: the ledger does not grow and nothing is created."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.api.app import create_app
from entrusted.entrypoints.api.middleware import INLINE_CHECK_BYTES, body_problem
from tests.e2e.test_api_registry import staff_token

pytestmark = pytest.mark.promise("P3", "P11", "P12")

JSON = {"content-type": "application/json"}


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def size(container: Container) -> int:
    return container.ledger_store.stored_size()


@pytest.mark.parametrize(
    "content",
    [
        '{"username": "anna", "username": "root", "password": "x"}',
        '{"username": "anna", "password": "x", "extra": {"a": 1, "a": 2}}',
        '{"username": "anna", "password": "x", "list": [{"k": 1, "k": 1}]}',
    ],
)
def test_a_key_named_twice_is_refused_before_any_route(
    client: TestClient, container: Container, content: str
) -> None:
    before = size(container)
    r = client.post("/v1/auth/login", content=content, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "body: a JSON object names the same key twice"
    assert size(container) == before


def test_a_large_body_is_checked_too(client: TestClient, container: Container) -> None:
    """Past INLINE_CHECK_BYTES the check runs in a worker thread: the same answer."""
    pad = "x" * (INLINE_CHECK_BYTES + 1)
    before = size(container)
    content = f'{{"username": "anna", "password": "x", "pad": "{pad}", "pad": "y"}}'
    r = client.post("/v1/auth/login", content=content, headers=JSON)
    assert (r.status_code, r.json()["detail"]) == (
        422, "body: a JSON object names the same key twice"
    )
    assert size(container) == before
    r = client.post("/v1/auth/login", content=content.replace('"pad": "y"', '"pad2": "y"'),
                    headers=JSON)  # fmt: skip
    assert (r.status_code, r.json()["field"]) == (422, "pad")  # an unknown field, by name


def test_nesting_too_deep_is_a_422_not_a_500(client: TestClient, container: Container) -> None:
    before = size(container)
    r = client.post("/v1/auth/login", content="[" * 100_000 + "]" * 100_000, headers=JSON)
    assert (r.status_code, r.json()["detail"]) == (422, "body: the JSON is nested too deeply")
    assert size(container) == before


def test_a_field_no_model_names_is_refused_by_name(
    client: TestClient, container: Container
) -> None:
    r = client.post("/v1/auth/login", json={"username": "anna", "password": "x", "otp": "1"})
    assert (r.status_code, r.json()["field"]) == (422, "otp")
    support = staff_token(container, "sam", "support")
    before = size(container)
    ask = {
        "case_id": "case_0000000000000000",
        "service_id": "svc_0000000000000000",
        "justification": "the customer reports lost mail since Monday",
        "readonly": True,  # misspelt read_only: refused, never read as the default False
    }
    r = client.post("/v1/access-requests", json=ask, headers=support)
    assert (r.status_code, r.json()["field"]) == (422, "readonly"), r.text
    assert size(container) == before
    # The same request without the misspelt field reaches the route (which finds no case).
    del ask["readonly"]
    r = client.post("/v1/access-requests", json=ask, headers=support)
    assert r.status_code != 422, r.text


def test_well_formed_bodies_pass_untouched() -> None:
    assert body_problem(b'{"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}') is None
    assert body_problem(b"not json at all {") is None  # the route's parser answers it
    assert body_problem(b"username=anna&password=x") is None
