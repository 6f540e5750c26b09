"""Guessing links costs the ledger a bounded number of entries (outside trial: 190 a second
from one client, each permanent): an unknown not-me link (401) or e-mail confirmation link
(403, as before) is a ledgered refusal up to 30 a minute per process, then a 429 with
Retry-After that writes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from entrusted.services.link_guesses import UNKNOWN_LINKS_PER_MINUTE

pytestmark = pytest.mark.promise("P3", "P11")

ROUTES = [
    ("/v1/grants/not-me", "entn_", 401, "consent.link-invalid", "not-me-link"),
    ("/v1/customers/email-confirmation", "ente_", 403, "registry.email-link-invalid", "email-link"),
]


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


@pytest.mark.parametrize(("path", "prefix", "status", "rule", "who"), ROUTES)
def test_unknown_links_are_ledgered_within_a_budget_then_429_unrecorded(
    client: TestClient,
    container: Container,
    path: str,
    prefix: str,
    status: int,
    rule: str,
    who: str,
) -> None:
    store = container.ledger_store
    start = store.stored_size()
    for n in range(UNKNOWN_LINKS_PER_MINUTE):
        r = client.post(path, json={"token": f"{prefix}guess{n:04d}{'x' * 30}"})
        assert r.status_code == status, r.text
    bodies = list(store.entries(start, store.stored_size()))
    assert len(bodies) == UNKNOWN_LINKS_PER_MINUTE
    entries = [AuditEntry.from_bytes(b) for b in bodies]
    assert {(e.decision, e.rule, e.actor_kind, e.actor_id) for e in entries} == {
        ("deny", rule, "public", who)
    }
    assert not any(b"guess" in b for b in bodies)  # the guesses' text is never written
    over = store.stored_size()
    r = client.post(path, json={"token": f"{prefix}one-more{'x' * 30}"})
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert store.stored_size() == over
