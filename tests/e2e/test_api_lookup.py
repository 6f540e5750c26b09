"""Support cannot walk the customer file (issue 11 item 4), over HTTP on SQLite and PostgreSQL:
look-ups need an open case or a ticket, are masked until the caller is identified on that
case, are throttled per agent (429 + Retry-After) with an alert entry on unusual volume;
another agent cannot verify someone else's identification; `GET /v1/cases` lists a support
agent's own cases or one customer's, a page at a time. Each refusal names its outcome and is
the newest entry of the durable ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.config import Settings
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from entrusted.services.outcomes import Outcome
from tests.conftest import FakeClock
from tests.e2e.test_api_registry import ALICE, BOB, signup, staff_token

pytestmark = pytest.mark.promise("P1", "P2")

ALERT_EVERY = 15


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"support_lookup_alert_per_hour": ALERT_EVERY})


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def ledgered(container: Container) -> list[AuditEntry]:
    store = container.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def refused_with(response: object, container: Container, outcome: Outcome) -> None:
    """A 403 naming `outcome`, which is also the newest (durable) ledger entry."""
    assert (response.status_code, response.json().get("rule")) == (403, outcome.value), (  # type: ignore[attr-defined]
        response.text  # type: ignore[attr-defined]
    )
    last = ledgered(container)[-1]
    assert (last.decision, last.rule) == ("deny", outcome.value)


def register(client: TestClient, container: Container, person: dict[str, object]) -> dict[str, str]:
    r = client.post("/v1/customers", json=person, headers=signup(container))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def identify(
    client: TestClient, container: Container, who: dict[str, str], body: dict[str, str]
) -> str:
    r = client.post("/v1/identifications", json={**body, "method": "sms_code"}, headers=who)
    assert r.status_code == 201, r.text
    code = container.sms.sent[-1].text.split("code is ")[1][:6]  # type: ignore[attr-defined]
    r = client.post(
        f"/v1/identifications/{r.json()['id']}/verify", json={"code": code}, headers=who
    )
    assert r.json()["outcome"] == "verified", r.text
    return code


def test_lookups_need_a_case_or_ticket(client: TestClient, container: Container) -> None:
    alice = register(client, container, ALICE)["id"]
    bob = register(client, container, BOB)["id"]
    support = staff_token(container, "support1", "support")
    before = container.ledger_store.stored_size()
    r = client.post("/v1/customers/search", json={"phone": "+41 79 000 11 11"}, headers=support)
    refused_with(r, container, Outcome.LOOKUP_NEEDS_REASON)
    # The refusal is the only entry: no "allow" of the gate for a look-up that never ran.
    assert container.ledger_store.stored_size() == before + 1
    refused_with(
        client.get(f"/v1/customers/{alice}/summary", headers=support),
        container,
        Outcome.LOOKUP_NEEDS_REASON,
    )
    site = [{"kind": "website", "name": "www.example.net"}]
    carol = register(client, container, {**BOB, "email": "carol@example.com", "services": site})
    r = client.post(
        "/v1/cases", json={"contract_id": carol["contract_id"], "subject": "Down"}, headers=support
    )
    assert r.status_code == 201, r.text
    other_case = r.json()["id"]
    # A case is a reason for its own customer only.
    refused_with(
        client.get(f"/v1/customers/{alice}/summary?case_id={other_case}", headers=support),
        container,
        Outcome.LOOKUP_NEEDS_REASON,
    )
    r = client.get(f"/v1/customers/{bob}/summary?ticket=not%20a%20ticket", headers=support)
    assert (r.status_code, r.json()["field"]) == (422, "ticket")


def test_masked_until_identified_on_the_case(client: TestClient, container: Container) -> None:
    alice_reg = register(client, container, ALICE)
    alice, contract = alice_reg["id"], alice_reg["contract_id"]
    support = staff_token(container, "support1", "support")
    case = client.post(
        "/v1/cases", json={"contract_id": contract, "subject": "Mail"}, headers=support
    ).json()["id"]
    body = {"email": ALICE["email"], "case_id": case}
    (view,) = client.post("/v1/customers/search", json=body, headers=support).json()
    assert view == {
        "id": alice,
        "identified": False,
        "initials": "A. B.",
        "email_hint": "a***@example.com",
        "mobile_hint": "+41*******11",
        "contract_ids": [contract],
        "methods": ["email_code", "sms_code", "session"],
        "summary": None,
    }
    masked = ledgered(container)[-1]  # the look-up's own entry; no refusal for masking
    assert (masked.action, masked.owner, masked.decision) == ("identify", alice, "allow")
    assert masked.refs["case"] == case
    identify(client, container, support, {"customer_id": alice, "case_id": case})
    view = client.get(f"/v1/customers/{alice}/summary?case_id={case}", headers=support).json()
    assert view["identified"] is True
    assert view["summary"]["last_name"] == "Beispiel"
    assert view["summary"]["contracts"][0]["services"][0]["name"] == "alice@example.org"
    shown = ledgered(container)[-1]
    assert (shown.action, shown.resource_kind, shown.decision) == ("read", "contract", "allow")
    # Identified on this case; a ticket-only look-up by the same agent still sees it, another
    # agent does not.
    other = staff_token(container, "support2", "support")
    view = client.get(f"/v1/customers/{alice}/summary?ticket=HD-9", headers=other).json()
    assert view["summary"] is None


def test_lookups_are_throttled_and_volume_raises_an_alert(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    alice = register(client, container, ALICE)["id"]
    support = staff_token(container, "support1", "support")
    url = f"/v1/customers/{alice}/summary?ticket=HD-1"
    per_minute = container.settings.support_lookups_per_minute
    for _ in range(per_minute):
        assert client.get(url, headers=support).status_code == 200
    r = client.get(url, headers=support)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    last = ledgered(container)[-1]
    assert (last.decision, last.rule) == ("deny", Outcome.LOOKUPS_THROTTLED.value)
    alerts = [e for e in ledgered(container) if e.rule == Outcome.LOOKUP_VOLUME_ALERT.value]
    assert alerts == []
    clock.advance(seconds=61)
    for _ in range(ALERT_EVERY - per_minute):
        assert client.get(url, headers=support).status_code == 200
    alerts = [e for e in ledgered(container) if e.rule == Outcome.LOOKUP_VOLUME_ALERT.value]
    assert [(a.actor_id, a.reason) for a in alerts] == [
        (alerts[0].actor_id, f"{ALERT_EVERY} customer look-ups within an hour by one staff member")
    ]
    assert alerts[0].actor_id.startswith("stf_")


def test_another_agent_cannot_verify_or_use_up_attempts(
    client: TestClient, container: Container
) -> None:
    alice = register(client, container, ALICE)["id"]
    support = staff_token(container, "support1", "support")
    other = staff_token(container, "support2", "support")
    r = client.post(
        "/v1/identifications", json={"customer_id": alice, "method": "sms_code"}, headers=support
    )
    ident = r.json()["id"]
    code = container.sms.sent[-1].text.split("code is ")[1][:6]  # type: ignore[attr-defined]
    for attempt in ("000000", "000000", code):
        r = client.post(
            f"/v1/identifications/{ident}/verify", json={"code": attempt}, headers=other
        )
        refused_with(r, container, Outcome.NOT_THE_IDENTIFIER)
    r = client.post(f"/v1/identifications/{ident}/verify", json={"code": code}, headers=support)
    assert (r.json()["outcome"], r.json()["attempts"]) == ("verified", 1)


def test_support_lists_own_cases_or_one_customers(client: TestClient, container: Container) -> None:
    contract = register(client, container, ALICE)["contract_id"]
    first = staff_token(container, "support1", "support")
    second = staff_token(container, "support2", "support")
    mine = client.post("/v1/cases", json={"contract_id": contract, "subject": "A"}, headers=first)
    theirs = client.post(
        "/v1/cases", json={"contract_id": contract, "subject": "B"}, headers=second
    )
    assert [c["id"] for c in client.get("/v1/cases", headers=first).json()] == [mine.json()["id"]]
    assert [c["id"] for c in client.get("/v1/cases", headers=second).json()] == [
        theirs.json()["id"]
    ]
    customer = mine.json()["customer_id"]
    both = client.get(f"/v1/cases?customer_id={customer}", headers=first).json()
    assert {c["id"] for c in both} == {mine.json()["id"], theirs.json()["id"]}
    assert client.get("/v1/cases?limit=500", headers=first).status_code == 422


def test_a_search_naming_another_customers_case_is_refused_like_a_summary(
    client: TestClient, container: Container
) -> None:
    """Trial finding: a search with Bob's case answered Alice's view while the summary refused.
    Both now refuse under the same rule and reason, whether the address is somebody else's or
    nobody's (no probing which addresses are customers'), and the refusal is ledgered."""
    alice = register(client, container, ALICE)["id"]
    site = [{"kind": "website", "name": "www.example.net"}]
    bob = register(client, container, {**BOB, "services": site})
    support = staff_token(container, "support1", "support")
    r = client.post(
        "/v1/cases", json={"contract_id": bob["contract_id"], "subject": "Down"}, headers=support
    )
    assert r.status_code == 201, r.text
    bobs_case = r.json()["id"]
    summary = client.get(f"/v1/customers/{alice}/summary?case_id={bobs_case}", headers=support)
    refused_with(summary, container, Outcome.LOOKUP_NEEDS_REASON)
    for email in (ALICE["email"], "nobody.here@example.com"):
        r = client.post(
            "/v1/customers/search", json={"email": email, "case_id": bobs_case}, headers=support
        )
        refused_with(r, container, Outcome.LOOKUP_NEEDS_REASON)
        assert r.json() == summary.json()
        assert alice not in r.text
        last = ledgered(container)[-1]
        assert (last.resource_id, last.refs["case"]) == ("lookup:email", bobs_case)
    # The case's own customer is found with it, by e-mail and by phone.
    (view,) = client.post(
        "/v1/customers/search",
        json={"email": BOB["email"], "case_id": bobs_case},
        headers=support,
    ).json()
    assert view["id"] == bob["id"]
