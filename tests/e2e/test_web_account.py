"""The portal's account pages (issue 18): my details (and the new contact address confirmed
through the link mailed to it), my contracts and services, my backups, and the FTP password.
Each page for its owner; an anonymous visitor is sent to sign in; another customer gets the
service's refusal (its rule shown and ledgered), never the owner's data; a form without its
token is refused (`web.form-forged`) and bad input is a 422 page, nothing changed. On SQLite
and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from entrusted.bootstrap import WORKER, Container
from entrusted.entrypoints.server import create_server_app
from tests.conftest import count_rows
from tests.e2e.web_support import (
    CUSTOMER_PASSWORD,
    STAFF_PASSWORD,
    client,
    console_sign_in,
    form_token,
    ledgered,
    mails_to,
    portal_sign_in,
    signed_up,
    token_in,
)
from tests.refusals import default_deny_reason

pytestmark = pytest.mark.promise("P1", "P2", "P9", "P15", "P16")

__all__ = ["client"]  # the fixture, imported to be found

ALICE = "alice.account@example.com"
BOB = "bob.account@example.com"
NEW = "alice.new@example.net"
PAGES = ("/portal/details", "/portal/contracts", "/portal/backups", "/portal/ftp")


def register(client: TestClient, container: Container, email: str, first: str, ftp: str) -> None:
    """A customer with a contract hosting a mailbox, an FTP space, a web site and a domain,
    registered by the signup site, with a password set through the mailed link."""
    host = ftp.replace("-", "")
    signed_up(client, container, {
        "last_name": "Beispiel", "first_name": first, "email": email,
        "services": [
            {"kind": "mailbox", "name": f"{ftp}@{host}.example.org"},
            {"kind": "ftp_space", "name": ftp},
            {"kind": "website", "name": f"www.{host}.example.org"},
            {"kind": "domain", "name": f"{host}.example.org"},
        ],
    })  # fmt: skip


def contract_of(container: Container, email: str) -> tuple[str, str]:
    """(contract id, FTP space id) of the customer whose contact address is `email`."""
    client = TestClient(create_server_app(container=container))
    r = client.post("/v1/customers/login", json={"email": email, "password": CUSTOMER_PASSWORD})
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"}).json()
    (held,) = container.contracts.held_by(
        container.customer_auth.authenticate(r.json()["token"]), me["id"]
    )
    (ftp,) = [s.id for s in held.services if s.kind.value == "ftp_space"]
    return held.id, ftp


@pytest.fixture
def two(client: TestClient, container: Container) -> dict[str, tuple[str, str]]:
    register(client, container, ALICE, "Alice", "alice-ftp")
    register(client, container, BOB, "Bob", "bob-ftp")
    return {ALICE: contract_of(container, ALICE), BOB: contract_of(container, BOB)}


def test_anonymous_and_staff_are_sent_to_sign_in(client: TestClient, container: Container) -> None:
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"] == f"/portal/signin?next={path}"
    container.staff.add("ana", "Ana Example", ["support"], STAFF_PASSWORD)
    console_sign_in(client, "ana")
    client.cookies.set("entrusted_portal", str(client.cookies.get("entrusted_console")), "/portal")
    for path in PAGES:
        assert client.get(path, follow_redirects=False).status_code == 303, path


def test_each_page_shows_the_owner_their_own(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    container.backups.runner.run(WORKER)
    portal_sign_in(client, ALICE)
    home = client.get("/portal/")
    for path in PAGES:
        assert f'href="{path}"' in home.text
    details = client.get("/portal/details")
    assert details.status_code == 200
    assert ALICE in details.text
    assert 'value="Alice"' in details.text
    assert '<option value="fr" lang="fr">Français</option>' in details.text
    assert "<option>Europe/Zurich</option>" in details.text
    contracts = client.get("/portal/contracts")
    contract_id, ftp_id = two[ALICE]
    assert contract_id in contracts.text
    for shown in ("alice-ftp@aliceftp.example.org", "www.aliceftp.example.org", "FTP space"):
        assert shown in contracts.text
    assert "bob" not in contracts.text.lower()
    one = client.get(f"/portal/contracts/{contract_id}")
    assert one.status_code == 200
    assert "alice-ftp" in one.text
    backups = client.get("/portal/backups")
    assert backups.status_code == 200
    assert "Your customer record" in backups.text
    assert "Due " in backups.text
    ftp = client.get("/portal/ftp")
    assert f'value="{ftp_id}"' in ftp.text
    assert "At least 12 characters." in ftp.text
    token = form_token(ftp.text)
    done = client.post("/portal/ftp", data={"service_id": ftp_id, "password": "x" * 20,
                                            "csrf": token})  # fmt: skip
    assert done.status_code == 200, done.text
    assert "The FTP password is set" in done.text
    assert "x" * 20 not in done.text
    assert count_rows(container.engine, "ftp_password") == 1
    (set_,) = [e for e in ledgered(container) if e.rule == "ftp.password-set"]
    assert (set_.decision, set_.actor_id, set_.resource_id) == ("allow", set_.owner, ftp_id)


def test_another_customer_never_sees_the_owners_data(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    container.backups.runner.run(WORKER)
    alice_contract, alice_ftp = two[ALICE]
    portal_sign_in(client, ALICE)
    alice_backups = client.get("/portal/backups").text
    client.cookies.clear()
    portal_sign_in(client, BOB)
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        for theirs in ("alice", alice_contract, alice_ftp):
            assert theirs not in page.text.lower(), path
    bob_backups = client.get("/portal/backups").text
    alice_ids = {cell.split("</code>")[0] for cell in alice_backups.split("<code>")[1:]}
    assert alice_ids
    assert not any(i in bob_backups for i in alice_ids)

    r = client.get(f"/portal/contracts/{alice_contract}")
    assert r.status_code == 403
    reason = default_deny_reason("customer to read contract", "owns_resource")
    assert "default-deny" in r.text
    assert reason in r.text
    last = ledgered(container)[-1]
    assert (last.decision, last.rule, last.reason, last.resource_id) == (
        "deny",
        None,
        reason,
        alice_contract,
    )

    ftp = client.get("/portal/ftp")
    r = client.post("/portal/ftp", data={"service_id": alice_ftp, "password": "y" * 20,
                                         "csrf": form_token(ftp.text)})  # fmt: skip
    assert r.status_code == 403
    reason = default_deny_reason("customer to update ftp_space", "owns_resource")
    assert reason in r.text
    assert "y" * 20 not in r.text
    last = ledgered(container)[-1]
    assert (last.decision, last.rule, last.reason) == ("deny", None, reason)
    assert count_rows(container.engine, "ftp_password") == 0

    r = client.get("/portal/contracts/not-a-contract")
    assert r.status_code == 422
    assert ledgered(container)[-1].rule == "gate.invalid-request"


def test_a_new_contact_address_moves_only_once_its_link_is_opened(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    portal_sign_in(client, ALICE)
    form = client.get("/portal/details")
    r = client.post(
        "/portal/details",
        data={"first_name": "Alicia", "last_name": "Beispiel", "email": NEW, "phone": "",
              "mobile": "", "language": "", "time_zone": "", "csrf": form_token(form.text)},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert f"pending until you open the link we sent to {NEW}" in r.text
    assert 'value="Alicia"' in r.text
    assert f'value="{ALICE}"' in r.text
    (notice,) = [m for m in mails_to(container, ALICE) if "a***@example.net" in m]
    assert NEW not in notice
    (link,) = [m for m in mails_to(container, NEW) if "/portal/email#token=" in m]
    later = client.get("/portal/details").text  # the page keeps saying where the link went
    assert f'value="{ALICE}"' in later
    assert f"pending until you open the link we sent to {NEW}" in later

    client.cookies.clear()  # the link may be opened in any browser, signed in or not
    page = client.get("/portal/email")
    assert 'data-from-fragment="token"' in page.text
    wrong = client.post(
        "/portal/email", data={"token": "ente_wrong", "csrf": form_token(page.text)}
    )
    assert wrong.status_code == 403
    assert "registry.email-link-invalid" in wrong.text
    done = client.post(
        "/portal/email", data={"token": token_in(link), "csrf": form_token(page.text)}
    )
    assert done.status_code == 200, done.text
    assert "confirmed" in done.text
    assert ledgered(container)[-1].rule == "registry.email-changed"
    portal_sign_in(client, NEW)
    details = client.get("/portal/details").text
    assert f'value="{NEW}"' in details
    assert ALICE not in details
    assert "pending until" not in details


def test_language_and_time_zone_are_the_customers_own(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    portal_sign_in(client, ALICE)
    form = client.get("/portal/details")
    assert '<html lang="en">' in form.text
    data = {"first_name": "Alice", "last_name": "Beispiel", "email": ALICE, "phone": "",
            "mobile": "", "language": "fr", "time_zone": "America/New_York",
            "csrf": form_token(form.text)}  # fmt: skip
    r = client.post("/portal/details", data=data)
    assert r.status_code == 200, r.text
    assert '<html lang="fr">' in r.text
    assert "<option selected>America/New_York</option>" in r.text
    assert '<html lang="fr">' in client.get("/portal/contracts").text
    actor = container.customer_auth.authenticate(str(client.cookies.get("entrusted_portal")))
    record = container.registry.details(actor, actor.id)
    assert (record.language, record.time_zone) == ("fr", "America/New_York")


def test_a_form_without_its_token_changes_nothing(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    _, ftp_id = two[ALICE]
    portal_sign_in(client, ALICE)
    before = container.ledger_store.stored_size()
    for path, data in (
        ("/portal/details", {"first_name": "Mallory", "email": NEW}),
        ("/portal/ftp", {"service_id": ftp_id, "password": "z" * 20}),
    ):
        r = client.post(path, data=data)
        assert r.status_code == 403, path
        assert "web.form-forged" in r.text
    assert [e.rule for e in ledgered(container)[before:]] == ["web.form-forged"] * 2
    details = client.get("/portal/details").text
    assert 'value="Alice"' in details
    assert count_rows(container.engine, "pending_email") == 0
    assert count_rows(container.engine, "ftp_password") == 0


def test_bad_input_is_a_clear_422_and_changes_nothing(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    _, ftp_id = two[ALICE]
    portal_sign_in(client, ALICE)
    form = client.get("/portal/details")
    r = client.post(
        "/portal/details",
        data={"first_name": "Alicia", "last_name": "Beispiel", "email": "not-an-address",
              "csrf": form_token(form.text)},
    )  # fmt: skip
    assert r.status_code == 422
    assert "Nothing was changed." in r.text
    assert "email" in r.text
    assert 'value="not-an-address"' in r.text  # the form keeps what was typed, to correct it
    assert 'value="Alice"' in client.get("/portal/details").text
    assert count_rows(container.engine, "pending_email") == 0

    ftp = client.get("/portal/ftp")
    r = client.post("/portal/ftp", data={"service_id": ftp_id, "password": "short1",
                                         "csrf": form_token(ftp.text)})  # fmt: skip
    assert r.status_code == 422
    assert "must be at least 12 characters" in r.text
    assert "short1" not in r.text
    assert count_rows(container.engine, "ftp_password") == 0
    r = client.post("/portal/ftp", data={"service_id": "svc-nope", "password": "w" * 20,
                                         "csrf": form_token(ftp.text)})  # fmt: skip
    assert r.status_code == 422
    assert ledgered(container)[-1].rule == "gate.invalid-request"
    assert count_rows(container.engine, "ftp_password") == 0


def test_a_page_view_reads_no_personal_details_for_its_language_and_zone(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    """Each page's own decisions stay ledgered (contracts, backups, grants are reads of their
    own); the page's language and time zone are read with no decision, so the customer's
    history is not filled with "you read your details". The details page stays a ledgered
    read of the record."""
    portal_sign_in(client, ALICE)
    for path in ("/portal/contracts", "/portal/backups", "/portal/ftp", "/portal/grants"):
        before = container.ledger_store.stored_size()
        assert client.get(path).status_code == 200, path
        added = ledgered(container)[before:]
        assert added, path  # the page's own decision
        assert "personal_details" not in {e.resource_kind for e in added}, path
    before = container.ledger_store.stored_size()
    assert client.get("/portal/email").status_code == 200  # reads nothing of hers
    assert container.ledger_store.stored_size() == before
    client.get("/portal/details")
    read = [e for e in ledgered(container)[before:] if e.resource_kind == "personal_details"]
    assert read  # the record itself (and the address awaiting its link), read and ledgered
    assert {(e.action, e.decision, e.actor_id) for e in read} == {("read", "allow", read[0].owner)}


def test_a_stored_zone_the_zone_database_no_longer_knows_falls_back_to_the_default(
    client: TestClient, container: Container, two: dict[str, tuple[str, str]]
) -> None:
    with container.engine.begin() as db:
        db.execute(
            sa.text("UPDATE customer SET time_zone = 'Mars/Olympus_Mons' WHERE time_zone IS NULL")
        )
    portal_sign_in(client, ALICE)
    for path in (*PAGES, "/portal/history"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "Mars/Olympus_Mons" not in r.text, path
