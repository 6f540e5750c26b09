"""A new contact e-mail address over HTTP, on SQLite and PostgreSQL (issue 11 item 9): a
correction holds it as pending and the address on file stays in force; the old address is told,
the new one gets a link, and only opening that link (once, in time) moves the address and its
blind index. Wrong, replayed and expired links and taken addresses change nothing, and every
outcome is in the ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from entrusted.adapters.db import tables as t
from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.api.app import create_app
from tests.conftest import FakeClock, count_rows
from tests.refusals import http_refused

pytestmark = pytest.mark.promise("P1", "P2")

PASSWORD = "alice's long passphrase"
OLD = "alice.beispiel@example.com"
NEW = "alice.neu@example.net"
ALICE = {"last_name": "Beispiel", "first_name": "Alice", "email": OLD}
BOB = {"last_name": "Muster", "first_name": "Bob", "email": "bob.muster@example.com"}


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ledgered(container: Container) -> list[AuditEntry]:
    store = container.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def mails_to(container: Container, to: str, subject: str) -> list[str]:
    container.outbox.deliver()  # the worker's job: both notices are queued, not sent inline
    sent = container.mailer.sent  # type: ignore[attr-defined]
    return [str(m.body) for m in sent if m.to == to and m.subject == subject]


def token_in(body: str) -> str:
    return body.split("#token=")[1].split(maxsplit=1)[0]


def customer_with_session(client: TestClient, container: Container) -> tuple[str, dict[str, str]]:
    site = bearer(container.staff.issue_service_token("signup", "site").secret)
    alice = client.post("/v1/customers", json=ALICE, headers=site).json()["id"]
    (link,) = mails_to(container, OLD, "Set your password")
    body = {"token": token_in(link), "password": PASSWORD}
    assert client.post("/v1/customers/password", json=body).status_code == 204
    return alice, login(client, OLD)


def login(client: TestClient, email: str) -> dict[str, str]:
    r = client.post("/v1/customers/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


def confirm(client: TestClient, token: str) -> tuple[int, dict[str, str]]:
    r = client.post("/v1/customers/email-confirmation", json={"token": token})
    return r.status_code, r.json()


def test_the_address_moves_only_when_the_link_is_opened(
    client: TestClient, container: Container
) -> None:
    alice, me = customer_with_session(client, container)
    r = client.patch(
        f"/v1/customers/{alice}", json={"email": NEW, "first_name": "Alicia"}, headers=me
    )
    assert r.status_code == 200, r.text
    assert (r.json()["email"], r.json()["first_name"]) == (OLD, "Alicia")
    assert client.get(f"/v1/customers/{alice}", headers=me).json()["email"] == OLD
    with container.engine.connect() as conn:
        (row,) = conn.execute(sa.select(t.pending_email)).mappings()
    assert NEW.encode() not in bytes(row["email"])
    assert row["token_hash"] is None

    (notice,) = mails_to(container, OLD, "Your contact address is being changed")
    assert "a***@example.net" in notice
    assert NEW not in notice
    (link,) = mails_to(container, NEW, "Confirm your new contact address")
    assert client.get(f"/v1/customers/{alice}", headers=me).json()["email"] == OLD

    status, body = confirm(client, "ente_not-the-token")
    assert status == 403
    assert body["rule"] == "registry.email-link-invalid"
    assert (ledgered(container)[-1].decision, ledgered(container)[-1].rule) == (
        "deny",
        "registry.email-link-invalid",
    )
    assert client.get(f"/v1/customers/{alice}", headers=me).json()["email"] == OLD

    assert confirm(client, token_in(link)) == (200, {"id": alice})
    last = ledgered(container)[-1]
    assert (last.actor_id, last.decision, last.rule) == (alice, "allow", "registry.email-changed")
    assert client.get(f"/v1/customers/{alice}", headers=me).json()["email"] == NEW
    login(client, NEW)  # the blind index moved with the address
    r = client.post("/v1/customers/login", json={"email": OLD, "password": PASSWORD})
    assert r.status_code == 401
    assert count_rows(container.engine, "pending_email") == 0

    status, body = confirm(client, token_in(link))  # the link works once
    assert status == 403
    assert body["rule"] == "registry.email-link-invalid"
    assert client.get(f"/v1/customers/{alice}", headers=me).json()["email"] == NEW


def test_an_expired_link_changes_nothing(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    alice, me = customer_with_session(client, container)
    client.patch(f"/v1/customers/{alice}", json={"email": NEW}, headers=me)
    (link,) = mails_to(container, NEW, "Confirm your new contact address")
    clock.advance(hours=24, seconds=1)  # email_change_ttl_s is 24 hours by default
    status, body = confirm(client, token_in(link))
    assert (status, body["rule"]) == (403, "registry.email-link-expired"), body
    last = ledgered(container)[-1]
    expired = (alice, "deny", "registry.email-link-expired")
    assert (last.actor_id, last.decision, last.rule) == expired
    me = login(client, OLD)  # the session has expired by now too; the old address still works
    assert client.get(f"/v1/customers/{alice}", headers=me).json()["email"] == OLD
    http_refused(
        client.post("/v1/customers/email-confirmation", json={"token": token_in(link)}),
        "registry.email-link-invalid",
    )


def test_an_address_another_customer_holds_is_a_409_naming_nobody(
    client: TestClient, container: Container
) -> None:
    alice, me = customer_with_session(client, container)
    site = bearer(container.staff.issue_service_token("signup", "site2").secret)
    bob = client.post("/v1/customers", json=BOB, headers=site).json()["id"]
    r = client.patch(f"/v1/customers/{alice}", json={"email": BOB["email"]}, headers=me)
    assert r.status_code == 200, r.text  # answering 409 here would say whose address it is
    (link,) = mails_to(container, BOB["email"], "Confirm your new contact address")
    r = client.post("/v1/customers/email-confirmation", json={"token": token_in(link)})
    assert r.status_code == 409
    assert bob not in r.text
    last = ledgered(container)[-1]
    assert (last.actor_id, last.decision, last.rule) == (alice, "deny", "registry.email-taken")
    assert client.get(f"/v1/customers/{alice}", headers=me).json()["email"] == OLD
