"""Consent in the portal (issue 18): the page an access-request mail links to, approved or
denied by the signed-in holder with the link's token as the page's form carries it; the
"this was not me" page of a verbal-consent receipt; the active grants with their revoke
button. Refusals (another customer, a spent link, a lapsed request, a forged form) show the
service's rule and change nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from tests.conftest import FakeClock
from tests.e2e.web_support import (
    CUSTOMER_PASSWORD,
    STAFF_PASSWORD,
    client,
    form_token,
    ledgered,
    mails_to,
    portal_sign_in,
    signed_up,
    token_in,
)

pytestmark = pytest.mark.promise("P9", "P10", "P11")

__all__ = ["client"]  # the fixture, imported to be found

CARLA = "carla.consent@example.com"
DORA = "dora.consent@example.com"
MAILBOX = "carla@example.org"
WHY = "Carla reports that her mail client keeps failing to sync."
_LINK = re.compile(r"(https?://\S+/access-requests/acr_\w+)#token=(\S+)")


@dataclass
class World:
    carla: str
    contract: str
    mailbox: str
    ftp: str
    support: dict[str, str]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def customer(client: TestClient, container: Container, email: str, **extra: object) -> World:
    """A customer registered through the API, with a password set through the mailed link;
    the support member is filled in by `world`."""
    body = {"last_name": "Beispiel", "first_name": "Carla", "email": email, **extra}
    made = signed_up(client, container, body)
    r = client.post("/v1/customers/login", json={"email": email, "password": CUSTOMER_PASSWORD})
    auth = bearer(r.json()["token"])
    services: dict[str, str] = {}
    if made.get("contract_id"):
        contract = client.get(f"/v1/contracts/{made['contract_id']}", headers=auth).json()
        services = {s["kind"]: s["id"] for s in contract["services"]}
    return World(
        made["id"], made.get("contract_id") or "", services.get("mailbox", ""),
        services.get("ftp_space", ""), {},
    )  # fmt: skip


def world(client: TestClient, container: Container) -> World:
    services = [{"kind": "mailbox", "name": MAILBOX}, {"kind": "ftp_space", "name": "carla-ftp"}]
    carla = customer(client, container, CARLA, services=services)
    customer(client, container, DORA, first_name="Dora")
    container.staff.add("sam", "Sam Support", ["support"], STAFF_PASSWORD)
    carla.support = bearer(container.staff.issue_token("sam", "test").secret)
    return carla


def ask(client: TestClient, container: Container, w: World, **extra: object) -> tuple[str, str]:
    """Support opens a case and asks for the mailbox; returns the mailed link's page path
    and its token (the fragment, which a browser never sends)."""
    r = client.post(
        "/v1/cases", json={"contract_id": w.contract, "subject": "Mail sync"}, headers=w.support
    )
    assert r.status_code == 201, r.text
    body = {"case_id": r.json()["id"], "service_id": w.mailbox, "justification": WHY, **extra}
    r = client.post("/v1/access-requests", json=body, headers=w.support)
    assert r.status_code == 201, r.text
    found = _LINK.search([m for m in mails_to(container, CARLA) if "/access-requests/" in m][-1])
    assert found
    return urlsplit(found.group(1)).path, found.group(2)


def grants_of(client: TestClient, w: World) -> list[str]:
    """The grants on the holder's cases, read through the API as the holder."""
    r = client.post("/v1/customers/login", json={"email": CARLA, "password": CUSTOMER_PASSWORD})
    holder = bearer(r.json()["token"])
    found = []
    for case in client.get("/v1/cases", params={"customer_id": w.carla}, headers=holder).json():
        detail = client.get(f"/v1/cases/{case['id']}", headers=holder).json()
        found += [g["id"] for g in detail["grants"]]
    return found


def test_the_holder_signs_in_from_the_link_and_approves(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    path, token = ask(client, container, w, read_only=True)
    assert path.startswith("/portal/access-requests/acr_")
    anonymous = client.get(path)
    assert anonymous.status_code == 200
    assert 'action="/portal/signin"' in anonymous.text
    assert f'name="next" value="{path}"' in anonymous.text
    assert "Sam Support" not in anonymous.text  # nothing about the request before sign-in
    portal_sign_in(client, CARLA)
    page = client.get(path)
    assert page.status_code == 200, page.text
    assert "Support asks to access your mailbox" in page.text
    assert MAILBOX in page.text
    assert "Sam Support" in page.text
    assert "stf_" not in page.text
    assert "Read-only" in page.text
    assert "Mail sync" in page.text
    assert 'name="token" value="" data-consent-token' in page.text
    assert f'action="{path}/approve"' in page.text
    r = client.post(f"{path}/approve", data={"csrf": form_token(page.text), "token": token})
    assert r.status_code == 200, r.text
    assert "You approved the access" in r.text
    assert "Sam Support" in r.text
    assert MAILBOX in r.text
    assert 'action="/portal/grants/gnt_' in r.text  # how to revoke it, right there
    (grant,) = grants_of(client, w)
    assert f"<code>{grant}</code>" in r.text
    approved = [e for e in ledgered(container) if e.rule == "consent.granted"]
    assert approved
    assert approved[-1].actor_id == w.carla
    again = client.post(f"{path}/approve", data={"csrf": form_token(page.text), "token": token})
    assert (again.status_code, "consent.link-spent" in again.text) == (403, True)


def test_deny_and_a_missing_token(client: TestClient, container: Container) -> None:
    w = world(client, container)
    path, _token = ask(client, container, w)
    portal_sign_in(client, CARLA)
    page = client.get(path)
    csrf = form_token(page.text)
    r = client.post(f"{path}/approve", data={"csrf": csrf, "token": ""})
    assert r.status_code == 422
    assert "Approving needs the link from your e-mail" in r.text
    assert grants_of(client, w) == []
    r = client.post(f"{path}/deny", data={"csrf": csrf, "token": ""})
    assert r.status_code == 200, r.text
    assert "You refused the access" in r.text
    assert "Refused" in client.get(path).text
    assert grants_of(client, w) == []


def test_a_lapsed_request_shows_the_services_refusal(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    w = world(client, container)
    path, token = ask(client, container, w)
    clock.advance(seconds=container.settings.access_request_ttl_s + 60)
    portal_sign_in(client, CARLA)
    page = client.get(path)
    assert "Lapsed unanswered" in page.text
    assert "data-consent-token" not in page.text  # nothing left to answer
    r = client.post(f"{path}/approve", data={"csrf": form_token(page.text), "token": token})
    assert r.status_code == 403
    assert "consent.request-expired" in r.text
    assert grants_of(client, w) == []


def test_another_customer_neither_sees_nor_approves(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    path, token = ask(client, container, w)
    portal_sign_in(client, DORA)
    page = client.get(path)
    assert page.status_code == 403
    assert "default-deny" in page.text
    assert "no rule permits customer to read case without owns_resource" in page.text
    assert MAILBOX not in page.text
    assert "Sam Support" not in page.text
    r = client.post(f"{path}/approve", data={"csrf": form_token(page.text), "token": token})
    assert r.status_code == 403
    assert "no rule permits customer to approve grant without owns_resource" in r.text
    last = ledgered(container)[-1]
    assert (last.decision, last.rule, last.action) == ("deny", None, "approve")
    assert grants_of(client, w) == []
    # the holder's link still works: B's attempt spent nothing
    client.cookies.clear()
    portal_sign_in(client, CARLA)
    page = client.get(path)
    r = client.post(f"{path}/approve", data={"csrf": form_token(page.text), "token": token})
    assert r.status_code == 200, r.text


def test_a_form_without_its_csrf_token_grants_nothing(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    path, token = ask(client, container, w)
    portal_sign_in(client, CARLA)
    for data in ({"token": token}, {"token": token, "csrf": "0" * 64}):
        r = client.post(f"{path}/approve", data=data)
        assert r.status_code == 403
        assert "web.form-forged" in r.text
    assert grants_of(client, w) == []
    forged = [e for e in ledgered(container) if e.rule == "web.form-forged"]
    assert len(forged) == 2
    assert forged[-1].resource_id == f"form:{path}/approve"


def test_revoke_from_the_grants_page(client: TestClient, container: Container) -> None:
    w = world(client, container)
    assert client.get("/portal/grants", follow_redirects=False).status_code == 303
    path, token = ask(client, container, w, sessions=2)
    portal_sign_in(client, CARLA)
    empty = client.get("/portal/grants")
    assert "Nobody has access" in empty.text
    page = client.get(path)
    client.post(f"{path}/approve", data={"csrf": form_token(page.text), "token": token})
    (grant,) = grants_of(client, w)
    listed = client.get("/portal/grants")
    assert listed.status_code == 200
    assert "Sam Support" in listed.text
    assert MAILBOX in listed.text
    assert "stf_" not in listed.text
    assert "0 of 2 sessions used" in listed.text
    action = f"/portal/grants/{grant}/revoke"
    assert f'action="{action}"' in listed.text
    assert client.post(action, data={}).status_code == 403  # no CSRF token: nothing ends
    assert f'action="{action}"' in client.get("/portal/grants").text
    r = client.post(action, data={"csrf": form_token(listed.text)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/portal/grants?revoked={grant}")
    after = client.get(r.headers["location"])
    assert f"Access {grant} is withdrawn" in after.text
    assert f'action="{action}"' not in after.text
    ended = [e for e in ledgered(container) if e.rule == "consent.grant-ended"]
    assert ended
    assert ended[-1].actor_id == w.carla


def test_not_me_ends_the_verbal_consent(client: TestClient, container: Container) -> None:
    w = world(client, container)
    r = client.post(
        "/v1/cases", json={"contract_id": w.contract, "subject": "Restore"}, headers=w.support
    )
    case = r.json()["id"]
    start = {"customer_id": w.carla, "method": "email_code", "case_id": case}
    ident = client.post("/v1/identifications", json=start, headers=w.support).json()["id"]
    code = mails_to(container, CARLA)[-1].split("code is ")[1][:6]
    client.post(f"/v1/identifications/{ident}/verify", json={"code": code}, headers=w.support)
    verbal = {"service_id": w.ftp, "read_back": True}
    r = client.post(f"/v1/cases/{case}/verbal-consent", json=verbal, headers=w.support)
    assert r.status_code == 201, r.text
    receipt = [m for m in mails_to(container, CARLA) if "/not-me#token=" in m][-1]
    assert "/portal/not-me#token=" in receipt
    page = client.get("/portal/not-me")
    assert page.status_code == 200
    assert 'name="token" value="" data-from-fragment="token"' in page.text
    csrf = form_token(page.text)
    bad = client.post("/portal/not-me", data={"csrf": csrf, "token": "entn_forged"})
    assert (bad.status_code, "This link is not valid" in bad.text) == (401, True)
    assert client.post("/portal/not-me", data={"token": token_in(receipt)}).status_code == 403
    r = client.post("/portal/not-me", data={"csrf": csrf, "token": token_in(receipt)})
    assert r.status_code == 200, r.text
    assert "the support case is flagged for review" in r.text
    assert "Sam Support" in r.text
    assert "carla-ftp" in r.text
    detail = client.get(f"/v1/cases/{case}", headers=w.support).json()
    assert detail["flagged_at"] is not None
    assert detail["grants"][0]["end_reason"] == "not_me"
    again = client.post("/portal/not-me", data={"csrf": csrf, "token": token_in(receipt)})
    assert again.status_code == 409


def test_the_request_page_in_french(client: TestClient, container: Container) -> None:
    w = world(client, container)
    path, _token = ask(client, container, w)
    portal_sign_in(client, CARLA)
    page = client.get(path, params={"lang": "fr"})
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    assert "Le support demande à accéder à votre boîte aux lettres" in page.text
    assert "Approuver" in page.text
    assert "Refuser" in page.text
    assert "Sam Support" in page.text


def test_malformed_ids_are_refused_not_crashed(client: TestClient, container: Container) -> None:
    world(client, container)
    assert client.get("/portal/access-requests/not-an-id").status_code == 404
    portal_sign_in(client, CARLA)
    r = client.get("/portal/access-requests/acr_NOT-HEX")
    assert r.status_code == 422
    page = client.get("/portal/grants")
    r = client.post("/portal/grants/xyz/revoke", data={"csrf": form_token(page.text)})
    assert r.status_code == 422
    assert ledgered(container)[-1].rule == "gate.invalid-request"
