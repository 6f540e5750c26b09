"""The other roles' console pages (issue 18): backups, staff accounts and the ledger for
system administrators; disclosures and policy versions for legal; mailings for
communications. Each page calls the service the API route calls: a role without it gets the
403 page naming the rule that refused (ledgered) and nothing changes; a form without its CSRF
token is `web.form-forged`. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.server import create_server_app
from tests.conftest import FakeClock, count_rows
from tests.e2e.console_support import agent, token_of
from tests.e2e.web_support import STAFF_PASSWORD, console_sign_in
from tests.integration.test_registry_sql import ledgered
from tests.unit.registry_world import SIGNUP, People

pytestmark = pytest.mark.promise("P5", "P6", "P7", "P8", "P12", "P15", "P17")

POLICY_TEXT = (
    "Our privacy policy\n\n## Backups [P15, P16]\nKept for one week, then destroyed.\n\n"
    f"## The rest [{', '.join(f'P{n}' for n in range(1, 18) if n not in (15, 16))}]\nAs kept.\n"
)
DOCUMENT = b"%PDF-1.7 Obergericht des Kantons Zuerich, Beschluss (fake, for tests)"
ORDER_FILES = {"document": ("order.pdf", DOCUMENT, "application/pdf")}
PAGES = {
    "sysadmin": ["/console/backups", "/console/staff", "/console/ledger"],
    "legal": ["/console/disclosures", "/console/policy", "/console/ledger"],
    "communications": ["/console/mailings"],
}


@pytest.fixture
def client(container: Container, clock: FakeClock) -> Iterator[TestClient]:
    # A new policy version may take effect from "today" on: the day the schema was installed.
    clock.now = datetime.combine(container.policy_documents.version(1).effective, time(12), UTC)
    with TestClient(create_server_app(container=container)) as c:
        yield c


def customers(container: Container, n: int) -> list[str]:
    people = People(seed=81)
    return [container.registry.register(SIGNUP, people.form()).customer_id for _ in range(n)]


def legal_desk(client: TestClient, container: Container) -> tuple[str, str]:
    """A customer on file and two legal officers, "lara" and "lena", the latter signed in at
    the disclosure desk: the customer's id and the desk's form token."""
    (cus,) = customers(container, 1)
    container.staff.add("lara", "Lara Legal", ["legal"], STAFF_PASSWORD)
    agent(client, container, "lena", "legal")
    return cus, token_of(client, "/console/disclosures")


def court_order(container: Container, customer_id: str, csrf: str) -> dict[str, object]:
    """The desk's court order form for `customer_id`'s personal details, valid from today;
    posted with `ORDER_FILES`."""
    today = container.clock().date()
    return {"court": "CH-ZH", "case_number": "1B_1/2026", "issued_on": str(today),
            "valid_until": str(today + timedelta(days=9)), "customer_ids": customer_id,
            "categories": ["personal_details"], "csrf": csrf}  # fmt: skip


def proposed_disclosure(client: TestClient, order: dict[str, object]) -> str:
    """`order` registered and a disclosure under it proposed through the desk's pages by the
    legal officer signed in; the disclosure's id."""
    r = client.post("/console/disclosures/orders", data=order, files=ORDER_FILES,
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    page = client.get("/console/disclosures").text
    order_id = re.search(r'id="order-(cor_[0-9a-f]{16})"', page)
    assert order_id, page
    r = client.post("/console/disclosures",
                    data={"order_id": order_id.group(1), "csrf": order["csrf"]},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    desk = client.get("/console/disclosures").text
    found = re.search(r'id="disclosure-(dsc_[0-9a-f]{16})"', desk)
    assert found
    return found.group(1)


def approved_by(client: TestClient, username: str, disclosure_id: str) -> str:
    """`disclosure_id` approved through the desk's page by `username`, signed in for it; the
    desk's form token of that session."""
    console_sign_in(client, username)
    csrf = token_of(client, "/console/disclosures")
    r = client.post(f"/console/disclosures/{disclosure_id}/approve", data={"csrf": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    return csrf


def assert_refused_page(container: Container, answer_status: int, text: str) -> None:
    """The answer is the 403 page naming the rule (or default deny) the ledger recorded."""
    assert answer_status == 403, text
    last = ledgered(container)[-1]
    assert last.decision == "deny"
    assert f"<code>{last.rule or 'default-deny'}</code>" in text


def test_each_page_for_its_role(client: TestClient, container: Container) -> None:
    for n, (role, paths) in enumerate(PAGES.items()):
        agent(client, container, f"member{n}", role)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, (role, path, r.text)
            assert "<h1>" in r.text
    home = client.get("/console/")
    assert 'href="/console/mailings"' in home.text
    assert 'href="/console/staff"' in home.text


@pytest.mark.parametrize("role", ["support", "communications", "legal", "sysadmin"])
def test_each_page_is_refused_to_a_role_without_it(
    client: TestClient, container: Container, role: str
) -> None:
    agent(client, container, "pat", role)
    for owner, paths in PAGES.items():
        for path in paths:
            if role == owner or (path == "/console/ledger" and role in ("sysadmin", "legal")):
                continue
            if path == "/console/policy":
                continue  # the versions are public; publishing is refused below
            r = client.get(path)
            assert_refused_page(container, r.status_code, r.text)
    if role != "legal":
        csrf = token_of(client, "/console/policy")
        effective = container.clock().date().isoformat()
        r = client.post("/console/policy", data={"text": POLICY_TEXT, "effective": effective,
                                                 "summary": "mine", "csrf": csrf})  # fmt: skip
        assert_refused_page(container, r.status_code, r.text)
        assert "only-legal-publishes-the-policy-document" in r.text
        assert count_rows(container.engine, "policy_document_version") == 1


def test_a_sysadmin_lists_and_disables_members_but_adds_none_from_a_page(
    client: TestClient, container: Container
) -> None:
    """Attacker trial: a sysadmin who could add members from a page added one with every role
    and signed in as it (P8, P5). Adding and role changes stay with the operator's CLI; the
    page lists and disables."""
    container.staff.add("lena", "Lena Legal", ["legal"], STAFF_PASSWORD)
    agent(client, container, "ada", "sysadmin")
    csrf = token_of(client, "/console/staff")
    page = client.get("/console/staff").text
    row = page.split('id="staff-lena"')[1].split("</tr>")[0]
    assert "Lena Legal" in row
    assert '<td class="roles">legal</td>' in row
    assert 'action="/console/staff"' not in page
    assert "/roles" not in page
    data = {"username": "shadow", "display_name": "Shadow", "roles": ["sysadmin", "legal"],
            "password": STAFF_PASSWORD, "csrf": csrf}  # fmt: skip
    assert client.post("/console/staff", data=data).status_code == 405
    both = {"roles": ["sysadmin", "legal"], "csrf": csrf}
    assert client.post("/console/staff/lena/roles", data=both).status_code == 404
    assert all(m.username != "shadow" for m in container.staff.list_members())
    assert [r.value for r in container.staff.get("lena").roles] == ["legal"]
    forged = client.post("/console/staff/lena/disable", data={"csrf": ""})
    assert forged.status_code == 403
    assert ledgered(container)[-1].rule == "web.form-forged"
    assert container.staff.get("lena").active
    r = client.post("/console/staff/lena/disable", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert not container.staff.get("lena").active


def test_legal_publishes_a_policy_version_seen_at_privacy_versions(
    client: TestClient, container: Container
) -> None:
    customers(container, 1)  # the terms amendment is mailed to somebody
    agent(client, container, "lena", "legal")
    csrf = token_of(client, "/console/policy")
    effective = container.clock().date().isoformat()
    data = {"text": POLICY_TEXT, "effective": effective, "summary": "a shorter text"}
    assert client.post("/console/policy", data=data).status_code == 403  # no CSRF field
    assert count_rows(container.engine, "policy_document_version") == 1
    r = client.post("/console/policy", data={**data, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    listing = client.get("/privacy/versions").text
    assert '/privacy/versions/2"' in listing
    assert "a shorter text" in client.get("/console/policy").text
    bad = client.post("/console/policy", data={**data, "text": " ", "csrf": csrf})
    assert bad.status_code == 422
    assert count_rows(container.engine, "policy_document_version") == 2


def test_compose_preview_and_send_a_mailing(client: TestClient, container: Container) -> None:
    customers(container, 3)
    agent(client, container, "cora", "communications")
    csrf = token_of(client, "/console/mailings")
    data = {"purpose": "terms_amendment", "subject": "Our terms change",
            "body": "We amended our terms; the text is at /privacy.", "csrf": csrf}  # fmt: skip
    advert = client.post("/console/mailings", data={**data, "purpose": "advertising"})
    assert advert.status_code == 422
    assert count_rows(container.engine, "mailing") == 0
    r = client.post("/console/mailings", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    found = re.match(r"^/console/mailings/(mlg_[0-9a-f]{16})$", r.headers["location"])
    assert found, r.headers["location"]
    page = client.get(r.headers["location"]).text
    assert 'id="mailing-reaches">3 customer(s)' in page
    assert 'id="mailing-pending">3' in page
    assert 'src="/static/progress.js"' in page
    forged = client.post(f"{r.headers['location']}/send", data={})
    assert forged.status_code == 403
    assert ledgered(container)[-1].rule == "web.form-forged"
    r = client.post(f"{r.headers['location']}/send", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    fragment = client.get(f"/console/mailings/{found.group(1)}/progress").text
    assert 'id="mailing-sent">3' in fragment
    assert 'id="mailing-pending">0' in fragment
    assert 'data-status="done"' in fragment
    assert client.get("/static/progress.js").status_code == 200
    assert client.get("/console/mailings/mlg_nothex/progress").status_code == 422


def test_a_court_order_and_a_disclosure_approved_by_a_second_legal_officer(
    client: TestClient, container: Container
) -> None:
    cus, csrf = legal_desk(client, container)
    asked = {"requester": "Det. Example", "authority": "Kantonspolizei", "asked": "records",
             "legal_basis": "StPO 265", "customer_ids": cus, "csrf": csrf}  # fmt: skip
    r = client.post("/console/disclosures/requests", data=asked, follow_redirects=False)
    assert r.status_code == 303, r.text
    order = court_order(container, cus, csrf)
    foreign = client.post("/console/disclosures/orders", data={**order, "court": "DE-BGH"},
                          files=ORDER_FILES)  # fmt: skip
    assert_refused_page(container, foreign.status_code, foreign.text)
    did = proposed_disclosure(client, order)
    own = client.post(f"/console/disclosures/{did}/approve", data={"csrf": csrf})
    assert_refused_page(container, own.status_code, own.text)
    csrf = approved_by(client, "lara", did)
    row = client.get("/console/disclosures").text.split(f'id="disclosure-{did}"')[1]
    assert '<td class="status">approved</td>' in row.split("</tr>")[0]
    export = client.post(f"/console/disclosures/{did}/export", data={"csrf": csrf})
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("application/json")
    assert export.json()["customers"][0]["id"] == cus
    assert client.post(f"/console/disclosures/{did}/export", data={"csrf": csrf}).status_code == 409


def test_the_ledger_page_shows_size_checkpoint_and_verification(
    client: TestClient, container: Container
) -> None:
    agent(client, container, "ada", "sysadmin")
    page = client.get("/console/ledger").text
    size = container.ledger_store.stored_size()
    assert 'id="ledger-size">' in page
    assert int(page.split('id="ledger-size">')[1].split("<")[0]) >= size - 1
    assert 'id="ledger-verified"' in page
    assert 'id="witnesses-none"' in page


def test_the_evidence_report_for_legal_and_refused_to_others(
    client: TestClient, container: Container
) -> None:
    agent(client, container, "lena", "legal")
    form = client.get("/console/evidence")
    assert form.status_code == 200
    assert 'id="evidence-period"' in form.text
    today = container.clock().date()
    period = {"start": str(today - timedelta(days=7)), "end": str(today + timedelta(days=1))}
    report = client.get("/console/evidence", params=period)
    assert report.status_code == 200, report.text
    assert "P17" in report.text
    bad = client.get("/console/evidence", params={**period, "end": "someday"})
    assert bad.status_code == 422
    assert ledgered(container)[-1].rule == "gate.invalid-request"
    agent(client, container, "ada", "sysadmin")
    refused = client.get("/console/evidence", params=period)
    assert_refused_page(container, refused.status_code, refused.text)


def test_a_restore_names_a_backup_of_the_right_shape_and_is_refused_to_support(
    client: TestClient, container: Container
) -> None:
    agent(client, container, "ada", "sysadmin")
    csrf = token_of(client, "/console/backups")
    data = {"backup_id": "reto@example.com", "target": "restored", "incident": "INC-1",
            "csrf": csrf}  # fmt: skip
    r = client.post("/console/backups/restore", data=data)
    assert r.status_code == 422
    last = ledgered(container)[-1]
    assert (last.decision, last.resource_id) == ("deny", "invalid")
    assert "reto@example.com" not in r.text
    missing = client.post("/console/backups/restore",
                          data={**data, "backup_id": "bkp_" + "0" * 16})  # fmt: skip
    assert missing.status_code == 404
    agent(client, container, "sam", "support")
    csrf = token_of(client, "/console/customers/find")
    r = client.post("/console/backups/restore", data={**data, "backup_id": "bkp_" + "0" * 16,
                                                      "csrf": csrf})  # fmt: skip
    assert_refused_page(container, r.status_code, r.text)


def test_an_invalid_customer_id_on_the_backups_page_is_ledgered_as_personal_details(
    client: TestClient, container: Container
) -> None:
    """The shared id check (`services.id_fields`): a customer id names personal details on
    every page and in the API, not a disclosure (the copies had drifted)."""
    agent(client, container, "ada", "sysadmin")
    r = client.get("/console/backups", params={"customer_id": "reto@example.com"})
    assert r.status_code == 422
    assert "reto@example.com" not in r.text
    last = ledgered(container)[-1]
    assert (last.decision, last.action, last.resource_kind, last.resource_id) == (
        "deny", "list", "personal_details", "invalid",
    )  # fmt: skip
    assert last.rule == "gate.invalid-request"
    assert "reto@example.com" not in repr(last)


@pytest.mark.parametrize("step", ["disable"])
def test_a_refused_role_cannot_tell_a_staff_username_from_an_unknown_one(
    client: TestClient, container: Container, step: str
) -> None:
    """The gate decides on the staff accounts before the name is looked up: a support agent
    gets the same ledgered 403 for a member that exists and one that does not (a 404 for the
    unknown name told who is on the staff)."""
    container.staff.add("lena", "Lena Legal", ["legal"], STAFF_PASSWORD)
    agent(client, container, "sam", "support")
    csrf = token_of(client, "/console/customers/find")
    seen = []
    for username in ("lena", "nobody-here"):
        before = len(ledgered(container))
        r = client.post(f"/console/staff/{username}/{step}",
                        data={"roles": ["sysadmin"], "csrf": csrf})  # fmt: skip
        assert_refused_page(container, r.status_code, r.text)
        entries = ledgered(container)
        assert len(entries) == before + 1
        last = entries[-1]
        assert username not in repr(last)
        seen.append((r.status_code, last.decision, last.rule, last.resource_kind,
                     last.resource_id, last.action))  # fmt: skip
    assert seen[0] == seen[1]
    assert seen[0][3:5] == ("staff_account", "*")
    assert container.staff.get("lena").active
    assert [r.value for r in container.staff.get("lena").roles] == ["legal"]
