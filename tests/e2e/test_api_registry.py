"""`/v1/customers`, `/v1/contracts`, `/v1/identifications` over HTTP, on SQLite and PostgreSQL:
the signup site registers, the customer sets a password through the e-mailed link and sees
their own record, support identifies a caller by code and transfers a contract, and the bulk
listing is a 403 that the ledger records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from tests.conftest import count_rows
from tests.refusals import http_default_denied, http_refused

pytestmark = pytest.mark.promise("P1", "P2")

PASSWORD = "correct horse battery"
ALICE = {
    "last_name": "Beispiel",
    "first_name": "Alice",
    "email": "alice.beispiel@example.com",
    "phone": "044 000 11 11",
    "mobile": "+41 79 000 11 11",
    "services": [{"kind": "mailbox", "name": "alice@example.org"}],
}
BOB = {"last_name": "Muster", "first_name": "Bob", "email": "bob.muster@example.com"}


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_token(container: Container, username: str, role: str) -> dict[str, str]:
    container.staff.add(username, "Staff", [role], PASSWORD)
    return bearer(container.staff.issue_token(username, "test").secret)


def signup(container: Container) -> dict[str, str]:
    return bearer(container.staff.issue_service_token("signup", "site").secret)


def last_mail(container: Container) -> str:
    container.outbox.deliver()  # what the worker's job does: password links are queued
    return str(container.mailer.sent[-1].body)  # type: ignore[attr-defined]


def test_registration_credentials_and_own_record(client: TestClient, container: Container) -> None:
    site = signup(container)
    r = client.post("/v1/customers", json=ALICE, headers=site)
    assert r.status_code == 201, r.text
    alice = r.json()["id"]
    assert r.json()["password_link_queued"]
    token = last_mail(container).split("#token=")[1].split()[0]
    assert (
        client.post(
            "/v1/customers/password", json={"token": token, "password": "alice's long passphrase"}
        ).status_code
        == 204
    )
    r = client.post(
        "/v1/customers/login",
        json={"email": ALICE["email"], "password": "alice's long passphrase"},
    )
    assert r.status_code == 200, r.text
    me = bearer(r.json()["token"])
    assert client.get("/v1/me", headers=me).json() == {"kind": "customer", "id": alice, "roles": []}
    record = client.get(f"/v1/customers/{alice}", headers=me).json()
    assert (record["email"], record["mobile"]) == ("alice.beispiel@example.com", "+41790001111")
    r = client.patch(
        f"/v1/customers/{alice}", json={"phone": None, "first_name": "Alicia"}, headers=me
    )
    assert (r.json()["phone"], r.json()["first_name"]) == (None, "Alicia")
    doc = client.get(f"/v1/customers/{alice}/export", headers=me).json()
    assert doc["contracts"][0]["services"][0]["name"] == "alice@example.org"
    assert len(doc["ledger_entries"]) >= 3
    bob = client.post("/v1/customers", json=BOB, headers=site).json()["id"]
    r = client.get(f"/v1/customers/{bob}", headers=me)
    http_default_denied(r, "customer to read personal_details", without="owns_resource")
    assert (
        client.post("/v1/customers/password-link", json={"email": "x@example.com"}).status_code
        == 202
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "no-at-sign"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"mobile": "044 000 00 00"}, "mobile"),
        ({"last_name": ""}, "last_name"),
        ({"services": [{"kind": "shop", "name": "x"}]}, "services[0].kind"),
    ],
)
def test_bad_registration_is_a_422_naming_the_field(
    client: TestClient, container: Container, change: dict[str, object], field: str
) -> None:
    r = client.post("/v1/customers", json={**ALICE, **change}, headers=signup(container))
    assert r.status_code == 422
    assert r.json()["field"] == field
    assert count_rows(container.engine, "customer") == 0


def test_duplicate_and_wrong_callers(client: TestClient, container: Container) -> None:
    site = signup(container)
    assert client.post("/v1/customers", json=BOB, headers=site).status_code == 201
    r = client.post("/v1/customers", json={**BOB, "email": BOB["email"].upper()}, headers=site)
    assert r.status_code == 409
    hook = bearer(container.staff.issue_service_token("mail_hook", "dovecot").secret)
    http_refused(client.post("/v1/customers", json=ALICE, headers=hook), "registry.registrar-only")
    assert client.post("/v1/customers", json=ALICE).status_code == 401
    assert count_rows(container.engine, "customer") == 1


def test_bulk_listing_is_refused_and_ledgered(client: TestClient, container: Container) -> None:
    for role in ("support", "sysadmin"):
        r = client.get("/v1/customers", headers=staff_token(container, f"{role}1", role))
        http_refused(r, "nobody-exports-the-customer-file")
    store = container.ledger_store
    entries = [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]
    entries = [e for e in entries if e.resource_kind != "staff_account"]  # staff admin
    assert [(e.resource_kind, e.decision) for e in entries[-2:]] == [("customer_file", "deny")] * 2


def test_support_identifies_a_caller_and_transfers_a_contract(
    client: TestClient, container: Container
) -> None:
    site = signup(container)
    alice_reg = client.post("/v1/customers", json=ALICE, headers=site).json()
    alice, contract = alice_reg["id"], alice_reg["contract_id"]
    support = staff_token(container, "support1", "support")
    sysadmin = staff_token(container, "sysadmin1", "sysadmin")
    body = {"phone": "+41 79 000 11 11", "ticket": "HD-1"}
    found = client.post("/v1/customers/search", json=body, headers=support)
    masked = [(s["id"], s["initials"], s["summary"]) for s in found.json()]
    assert masked == [(alice, "A. B.", None)]
    assert "email" not in found.json()[0]
    summary = f"/v1/customers/{alice}/summary?ticket=HD-1"
    r = client.get(summary, headers=sysadmin)
    http_default_denied(r, "sysadmin to identify personal_details")
    r = client.get(f"/v1/contracts/{contract}", headers=support)
    http_default_denied(r, "support to read contract", without="caller_identified")
    r = client.post(
        "/v1/identifications", json={"customer_id": alice, "method": "sms_code"}, headers=support
    )
    assert r.status_code == 201, r.text
    ident = r.json()["id"]
    code = container.sms.sent[-1].text.split("code is ")[1][:6]  # type: ignore[attr-defined]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    r = client.post(f"/v1/identifications/{ident}/verify", json={"code": wrong}, headers=support)
    assert (r.status_code, r.json()["field"]) == (422, "code")
    r = client.post(f"/v1/identifications/{ident}/verify", json={"code": code}, headers=support)
    assert r.json()["outcome"] == "verified"
    r = client.post(f"/v1/identifications/{ident}/verify", json={"code": code}, headers=support)
    assert r.status_code == 409
    assert client.get(f"/v1/contracts/{contract}", headers=support).status_code == 200
    r = client.post(f"/v1/contracts/{contract}/transfer", json={"new_holder": BOB}, headers=support)
    assert r.status_code == 200, r.text
    moved = r.json()
    assert (moved["from_customer"], moved["new_customer"]) == (alice, True)
    assert moved["contract"]["holder_id"] == moved["to_customer"]
    r = client.post(f"/v1/contracts/{contract}/cancel", json={}, headers=support)
    # support identified Alice, not the new holder
    http_default_denied(r, "support to update contract", without="caller_identified")
