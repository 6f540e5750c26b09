"""`POST /v1/cases/{id}/reopen` decides before it reveals state (issue 11): an actor who may
not open a case for the customer gets the gate's 403, ledgered, whether the case is open or
resolved, never the 409 that would tell them; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from tests.e2e.test_api_consent import client, world
from tests.refusals import default_deny_reason, http_default_denied

pytestmark = pytest.mark.promise("P11", "P12")

__all__ = ["client"]  # the fixture, imported for pytest


def last_entry(container: Container) -> AuditEntry:
    store = container.ledger_store
    return AuditEntry.from_bytes(store.entries(store.stored_size() - 1, store.stored_size())[0])


def test_reopen_is_decided_before_the_case_state_is_revealed(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    body = {"contract_id": w["contract"], "subject": "Sync"}
    case = client.post("/v1/cases", json=body, headers=w["support"]).json()["id"]
    for _ in ("open", "resolved"):
        r = client.post(f"/v1/cases/{case}/reopen", json={}, headers=w["dora"])
        http_default_denied(r, "customer to create case", without="owns_resource")
        last = last_entry(container)
        assert (last.decision, last.reason) == (
            "deny",
            default_deny_reason("customer to create case", "owns_resource"),
        )
        client.post(f"/v1/cases/{case}/resolve", headers=w["support"])
    r = client.post(f"/v1/cases/{case}/reopen", json={}, headers=w["support"])
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/cases/{r.json()['id']}/reopen", json={}, headers=w["support"])
    assert r.status_code == 409  # still open, told to whoever may open cases for Carla
