"""A malformed id in a URL (too long for the ledger's columns, or holding NUL or control
characters) is a clear 422 and a ledgered refusal, never a 503 "could not be audited": the
gate must be able to record every request it refuses (trial finding, issues 10 and 12)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from tests.e2e.test_api_registry import staff_token

pytestmark = pytest.mark.promise("P3", "P12")

BAD_IDS = ["c" * 65, "cus_%00abc", "cus_%01abc", "cus_%7Fabc"]


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def ledgered(container: Container) -> list[AuditEntry]:
    store = container.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("suffix", ["", "/summary", "/export"])
def test_a_malformed_customer_id_is_422_and_ledgered(
    client: TestClient, container: Container, bad: str, suffix: str
) -> None:
    headers = staff_token(container, "sam", "support")
    before = container.ledger_store.stored_size()
    r = client.get(f"/v1/customers/{bad}{suffix}", headers=headers)
    assert r.status_code in (404, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if r.status_code == 422:
        # The gate refused it as invalid, and that refusal is the newest durable entry.
        assert container.ledger_store.stored_size() > before
        last = ledgered(container)[-1]
        assert (last.decision, last.rule) == ("deny", "gate.invalid-request")
        assert len(last.owner or "") <= 64
        assert "\x00" not in (last.owner or "") + last.resource_id
