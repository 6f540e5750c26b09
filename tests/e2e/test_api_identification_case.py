"""An identification that names a case needs that case to exist, be open and be the
customer's (trial finding: a nonexistent case, or another customer's, was accepted and the
verification then counted for it). Each refusal is ledgered as
`registry.identification-case-refused` and nothing is sent or stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.crypto.secrets import new_id
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from tests.e2e.test_api_consent import CARLA, DORA
from tests.e2e.test_api_registry import last_mail, signup, staff_token

pytestmark = pytest.mark.promise("P1", "P3")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def last_entry(container: Container) -> AuditEntry:
    store = container.ledger_store
    size = store.stored_size()
    return AuditEntry.from_bytes(store.entries(size - 1, size)[0])


def test_the_named_case_must_be_an_open_case_of_that_customer(
    client: TestClient, container: Container
) -> None:
    site = signup(container)
    support = staff_token(container, "sam", "support")
    carla = client.post("/v1/customers", json=CARLA, headers=site).json()
    dora = client.post("/v1/customers", json=DORA, headers=site).json()
    r = client.post("/v1/contracts", json={"holder_id": dora["id"]}, headers=site)
    assert r.status_code == 201, r.text
    dora_contract = r.json()["id"]

    def case_of(contract: str) -> str:
        body = {"contract_id": contract, "subject": "Sync"}
        r = client.post("/v1/cases", json=body, headers=support)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    carla_case, dora_case = case_of(carla["contract_id"]), case_of(dora_contract)
    resolved = case_of(carla["contract_id"])
    assert client.post(f"/v1/cases/{resolved}/resolve", headers=support).status_code == 200
    container.outbox.deliver()
    sent = len(container.mailer.sent)  # type: ignore[attr-defined]

    def start(case_id: str) -> tuple[int, str]:
        body = {"customer_id": carla["id"], "method": "email_code", "case_id": case_id}
        r = client.post("/v1/identifications", json=body, headers=support)
        return r.status_code, r.text

    for case_id, status in ((new_id("case"), 404), (dora_case, 422), (resolved, 409)):
        code, text = start(case_id)
        assert code == status, text
        entry = last_entry(container)
        assert (entry.decision, entry.rule, entry.owner, entry.refs["case"]) == (
            "deny",
            "registry.identification-case-refused",
            carla["id"],
            case_id,
        )
        assert len(container.mailer.sent) == sent  # type: ignore[attr-defined]  # no code sent

    # The customer's own open case: the code goes out, and the identification counts there.
    code, text = start(carla_case)
    assert code == 201, text
    ident = text.split('"id":"')[1].split('"')[0]
    secret = last_mail(container).split("code is ")[1][:6]
    r = client.post(f"/v1/identifications/{ident}/verify", json={"code": secret}, headers=support)
    assert r.status_code == 200, r.text


def test_a_role_the_gate_refuses_learns_nothing_of_the_case(
    client: TestClient, container: Container
) -> None:
    """Review finding: the case was checked before the gate, so any caller learned whether a
    case existed, whose it was and whether it was open. Now the gate decides first."""
    site = signup(container)
    support = staff_token(container, "sam", "support")
    outsider = staff_token(container, "cora", "communications")
    carla = client.post("/v1/customers", json=CARLA, headers=site).json()
    dora = client.post("/v1/customers", json=DORA, headers=site).json()
    body = {"contract_id": carla["contract_id"], "subject": "Sync"}
    r = client.post("/v1/cases", json=body, headers=support)
    assert r.status_code == 201, r.text
    carla_case = str(r.json()["id"])

    answers = []
    for customer, case_id in ((carla["id"], carla_case), (carla["id"], new_id("case")),
                              (dora["id"], carla_case)):
        body = {"customer_id": customer, "method": "email_code", "case_id": case_id}
        r = client.post("/v1/identifications", json=body, headers=outsider)
        entry = last_entry(container)
        assert (entry.decision, entry.rule) == ("deny", None), entry  # default deny, no case
        answers.append((r.status_code, r.json()))
    assert [a[0] for a in answers] == [403, 403, 403]
    assert answers[0] == answers[1] == answers[2]

    # For a caller the gate allows, the case's refusal is ledgered beside the allow.
    body = {"customer_id": carla["id"], "method": "email_code", "case_id": new_id("case")}
    r = client.post("/v1/identifications", json=body, headers=support)
    assert r.status_code == 404, r.text
    store = container.ledger_store
    size = store.stored_size()
    allow, refusal = (AuditEntry.from_bytes(b) for b in store.entries(size - 2, size))
    assert (allow.decision, refusal.decision, refusal.rule) == (
        "allow", "deny", "registry.identification-case-refused"
    )
