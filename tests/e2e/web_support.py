"""What the page tests share: a client for the API with the pages mounted (the `client`
fixture: a page test module imports it and names it in `__all__`), the ledger read back,
reading a form's CSRF token from its page, registering a customer through the API with the
password set through the mailed link, and signing a customer or a staff member in through the
pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.server import create_server_app

CUSTOMER_PASSWORD = "a long customer passphrase"
STAFF_PASSWORD = "a long staff passphrase"
_TOKEN = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_server_app(container=container)) as c:
        yield c


def ledgered(container: Container) -> list[AuditEntry]:
    store = container.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def form_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page has no form token"
    return found.group(1)


def mails_to(container: Container, to: str) -> list[str]:
    container.outbox.deliver()
    sent = container.mailer.sent  # type: ignore[attr-defined]
    return [str(m.body) for m in sent if m.to == to]


def token_in(body: str) -> str:
    return body.split("#token=")[1].split(maxsplit=1)[0]


def signed_up(client: TestClient, container: Container, body: dict[str, Any]) -> dict[str, Any]:
    """`body` registered through the API by the signup service, and the customer's password
    set through the link the mail carried; returns the API's answer to the registration."""
    site = container.staff.issue_service_token("signup", "site").secret
    r = client.post("/v1/customers", json=body, headers={"Authorization": f"Bearer {site}"})
    assert r.status_code == 201, r.text
    registered: dict[str, Any] = r.json()
    (link,) = [m for m in mails_to(container, body["email"]) if "#token=entl_" in m][-1:]
    r = client.post(
        "/v1/customers/password", json={"token": token_in(link), "password": CUSTOMER_PASSWORD}
    )
    assert r.status_code == 204, r.text
    return registered


def register_customer(client: TestClient, container: Container, email: str, **extra: str) -> str:
    """A customer registered by `signed_up`; returns the customer id, as the customer's own
    session reads it."""
    signed_up(client, container, {"last_name": "Beispiel", "first_name": "Alice", "email": email,
                                  **extra})  # fmt: skip
    r = client.post("/v1/customers/login", json={"email": email, "password": CUSTOMER_PASSWORD})
    assert r.status_code == 200, r.text
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    return str(me.json()["id"])


def portal_sign_in(client: TestClient, email: str, password: str = CUSTOMER_PASSWORD) -> None:
    page = client.get("/portal/signin")
    assert page.status_code == 200, page.text
    r = client.post(
        "/portal/signin",
        data={"email": email, "password": password, "csrf": form_token(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def console_sign_in(client: TestClient, username: str, password: str = STAFF_PASSWORD) -> None:
    page = client.get("/console/signin")
    r = client.post(
        "/console/signin",
        data={"username": username, "password": password, "csrf": form_token(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
