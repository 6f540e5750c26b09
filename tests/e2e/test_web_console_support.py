"""The support agent's console pages (issue 18): find a caller within a case or ticket, open a
case, identify the caller, request access (the customer's mail carries the link; the case page
shows the answer), record verbal consent, resolve and reopen, and see a mailbox's metadata.
Each page calls the service the API route calls: a role the rules refuse gets the 403 page
with the rule and nothing changes; a form without its CSRF token is `web.form-forged`. On
SQLite and PostgreSQL."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.config import Settings
from entrusted.domain.policy import Actor, ActorKind
from tests.conftest import count_rows
from tests.e2e.console_support import agent, identify, open_case, token_of
from tests.e2e.web_support import client, mails_to, token_in
from tests.integration.test_consent_sql import FTP_NAME, register
from tests.integration.test_mail_monitor import make_maildir
from tests.integration.test_registry_sql import ledgered
from tests.refusals import default_deny_reason

pytestmark = pytest.mark.promise("P1", "P9", "P10", "P11", "P13")

__all__ = ["client"]  # the fixture, imported to be found

CUSTOMER = "reto1@example.com"  # what tests/integration/test_consent_sql.register(c, 1) files
MAILBOX = "1reto.rueegsegger@example.org"
FTP_SPACE = f"{FTP_NAME}1"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        staff_totp_required=False,
        mail_transport="directory",
        sms_transport="directory",
        mail_root_template=str(tmp_path / "mail" / "%d" / "%n" / "Maildir"),
        ftp_root_template=str(tmp_path / "ftp" / "%n"),
    )


def signed_in(
    client: TestClient, container: Container, username: str = "sam", role: str = "support"
) -> tuple[str, str, dict[str, str]]:
    """Customer 1 registered and a staff member with `role` signed in to the console:
    (customer id, contract id, services by kind)."""
    registered = register(container, 1)
    agent(client, container, username, role)
    return registered


def case_opened(client: TestClient, container: Container) -> tuple[str, dict[str, str], str, str]:
    """`signed_in`, and a case Sam opened on customer 1's contract, with its page's form token:
    (customer id, services by kind, case id, form token)."""
    cus, ctr, svc = signed_in(client, container)
    case_id = open_case(client, ctr)
    return cus, svc, case_id, token_of(client, f"/console/cases/{case_id}")


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    for path in ("/console/customers/find", "/console/cases", "/console/metadata"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/signin?next=")


def test_find_by_email_within_a_ticket_shows_hints_only(
    client: TestClient, container: Container
) -> None:
    cus, ctr, _ = register(container, 1)
    staff_id = agent(client, container, "sam", "support")
    home = client.get("/console/").text
    for link in ("/console/customers/find", "/console/cases", "/console/metadata"):
        assert f'href="{link}"' in home
    csrf = token_of(client, "/console/customers/find")
    data = {"by": "email", "value": CUSTOMER.upper(), "ticket": "HD-1001", "csrf": csrf}
    r = client.post("/console/customers/find", data=data)
    assert r.status_code == 200, r.text
    assert f'id="result-{cus}"' in r.text
    assert "r***@example.com" in r.text
    assert ctr in r.text
    assert "Reto1" not in r.text  # no name before the caller is identified
    last = ledgered(container)[-1]
    assert (last.actor_id, last.decision) == (staff_id, "allow")
    page = client.get(f"/console/customers/{cus}?ticket=HD-1001")
    assert page.status_code == 200
    assert 'id="customer-identified">no' in page.text
    assert 'id="case-open"' in page.text


def test_a_search_without_a_case_or_ticket_is_refused_with_its_rule(
    client: TestClient, container: Container
) -> None:
    signed_in(client, container)
    csrf = token_of(client, "/console/customers/find")
    r = client.post("/console/customers/find", data={"by": "email", "value": CUSTOMER,
                                                      "csrf": csrf})  # fmt: skip
    assert r.status_code == 403, r.text
    last = ledgered(container)[-1]
    assert last.decision == "deny"
    assert last.rule == "registry.lookup-needs-reason"
    assert "<code>registry.lookup-needs-reason</code>" in r.text
    blank = {"by": "email", "value": " ", "ticket": "HD-1", "csrf": csrf}
    empty = client.post("/console/customers/find", data=blank)
    assert empty.status_code == 422
    assert 'id="find-error"' in empty.text


def test_open_identify_request_access_then_resolve_and_reopen(
    client: TestClient, container: Container
) -> None:
    cus, ctr, svc = signed_in(client, container)
    case_id = open_case(client, ctr)
    page = client.get(f"/console/cases/{case_id}")
    assert 'id="case-status">open' in page.text
    listed = client.get("/console/cases")
    assert f'id="case-{case_id}"' in listed.text
    identify(client, container, cus, case_id)
    page = client.get(f"/console/cases/{case_id}")
    assert '<td class="status">verified</td>' in page.text
    summary = client.get(f"/console/customers/{cus}?case_id={case_id}")
    assert 'id="customer-identified">yes' in summary.text
    assert f'id="service-{svc["mailbox"]}"' in summary.text
    csrf = token_of(client, f"/console/cases/{case_id}")
    data = {"service_id": svc["mailbox"], "justification": "Check why mail is slow",
            "read_only": "true", "sessions": "1", "csrf": csrf}  # fmt: skip
    r = client.post(f"/console/cases/{case_id}/access-requests", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    (link,) = [m for m in mails_to(container, CUSTOMER) if "#token=enta_" in m]
    page = client.get(f"/console/cases/{case_id}")
    (request_id,) = {p.split('"')[0] for p in page.text.split('id="request-acr_')[1:]}
    assert "pending" in page.text.split(f'id="request-acr_{request_id}"')[1].split("</tr>")[0]
    holder = Actor(ActorKind.CUSTOMER, cus)
    container.consent.approve(holder, f"acr_{request_id}", token_in(link))
    page = client.get(f"/console/cases/{case_id}")
    row = page.text.split(f'id="request-acr_{request_id}"')[1].split("</tr>")[0]
    assert 'class="status allowed">approved' in row
    assert "active" in page.text.split('id="case-grants"')[1]
    csrf = token_of(client, f"/console/cases/{case_id}")
    r = client.post(f"/console/cases/{case_id}/resolve", data={"csrf": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = client.get(f"/console/cases/{case_id}")
    assert 'id="case-status">resolved' in page.text
    assert "case_resolved" in page.text
    again = client.post(f"/console/cases/{case_id}/resolve", data={"csrf": csrf})
    assert again.status_code == 409
    r = client.post(f"/console/cases/{case_id}/reopen", data={"subject": "", "csrf": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"] != f"/console/cases/{case_id}"
    reopened = client.get(r.headers["location"])
    assert f'href="/console/cases/{case_id}"' in reopened.text
    assert 'id="case-status">open' in reopened.text


def test_a_wrong_code_re_renders_the_form_and_identifies_nobody(
    client: TestClient, container: Container
) -> None:
    cus, _, case_id, csrf = case_opened(client, container)
    r = client.post("/console/identifications", data={
        "customer_id": cus, "method": "email_code", "case_id": case_id, "csrf": csrf})  # fmt: skip
    assert r.status_code == 201
    verify = r.text.split('action="')[2].split('"')[0]
    assert verify.endswith("/verify")
    r = client.post(verify, data={"code": "000000", "case_id": case_id, "csrf": csrf})
    assert r.status_code == 422
    assert 'id="identify-error"' in r.text
    assert "attempt(s) left" in r.text
    page = client.get(f"/console/cases/{case_id}")
    assert '<td class="status">pending</td>' in page.text


def test_a_session_identification_waits_for_the_customer_to_confirm(
    client: TestClient, container: Container
) -> None:
    cus, _, case_id, csrf = case_opened(client, container)
    data = {"customer_id": cus, "method": "session", "case_id": case_id, "csrf": csrf}
    r = client.post("/console/identifications", data=data)
    assert r.status_code == 201, r.text
    assert 'id="identification-wait"' in r.text
    assert 'id="identify-verify"' not in r.text
    ident_id = r.text.split('id="identification-id">')[1].split("<")[0]
    container.identification.confirm(Actor(ActorKind.CUSTOMER, cus), ident_id)
    page = client.get(f"/console/cases/{case_id}")
    row = page.text.split(f'id="identification-{ident_id}"')[1].split("</tr>")[0]
    assert '<td class="status">verified</td>' in row
    bad = client.post("/console/identifications", data={**data, "method": "carrier_pigeon"})
    assert bad.status_code == 422


def test_verbal_consent_after_identification_creates_the_grant_and_a_receipt(
    client: TestClient, container: Container
) -> None:
    cus, svc, case_id, csrf = case_opened(client, container)
    data = {"service_id": svc["ftp_space"], "sessions": "1", "csrf": csrf}
    before = count_rows(container.engine, "consent_grant")
    early = client.post(f"/console/cases/{case_id}/verbal-consent",
                        data={**data, "read_back": "true"})  # fmt: skip
    assert early.status_code == 403  # nobody identified the caller yet
    denied = ledgered(container)[-1]
    assert (denied.decision, denied.rule) == ("deny", None)  # default deny: no rule permits
    assert "caller_identified" in denied.reason
    assert "<code>default-deny</code>" in early.text
    identify(client, container, cus, case_id)
    unread = client.post(f"/console/cases/{case_id}/verbal-consent", data=data)
    assert unread.status_code == 422  # the scope was not read back
    assert count_rows(container.engine, "consent_grant") == before
    r = client.post(f"/console/cases/{case_id}/verbal-consent", data={**data, "read_back": "true"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    assert count_rows(container.engine, "consent_grant") == before + 1
    page = client.get(f"/console/cases/{case_id}")
    assert 'id="case-consents"' in page.text
    assert svc["ftp_space"] in page.text.split('id="case-grants"')[1]
    assert "verbal" in page.text.split('id="case-grants"')[1]
    assert mails_to(container, CUSTOMER)  # the receipt went to the customer


def test_mailbox_metadata_page_shows_folders_and_sizes_only(
    client: TestClient, container: Container, tmp_path: Path
) -> None:
    _, _, svc = signed_in(client, container)
    make_maildir(tmp_path / "mail" / "example.org" / "1reto.rueegsegger" / "Maildir")
    csrf = token_of(client, "/console/metadata")
    r = client.post("/console/mailboxes/metadata", data={"address": MAILBOX, "csrf": csrf})
    assert r.status_code == 200, r.text
    assert svc["mailbox"] in r.text
    assert 'id="mailbox-messages">5<' in r.text
    assert 'id="mailbox-bytes">196 bytes<' in r.text
    for folder in ("INBOX", "A/B", "Entwürfe"):
        assert f"<td>{folder}</td>" in r.text
    assert ledgered(container)[-1].rule == "support-monitors-mailbox-metadata"
    unknown = client.post("/console/mailboxes/metadata",
                          data={"address": "nobody@example.org", "csrf": csrf})  # fmt: skip
    assert unknown.status_code == 404


def test_ftp_space_sizes_page_needs_a_reason_and_shows_two_numbers(
    client: TestClient, container: Container, tmp_path: Path
) -> None:
    _, _, svc = signed_in(client, container)
    root = tmp_path / "ftp" / FTP_SPACE
    (root / "site").mkdir(parents=True)
    (root / "site" / "secret-plan.txt").write_bytes(b"x" * 120)
    (root / "db.sql").write_bytes(b"y" * 30)
    csrf = token_of(client, "/console/metadata")
    r = client.post("/console/ftp-spaces/sizes", data={"name": FTP_SPACE, "csrf": csrf})
    assert r.status_code == 403
    assert ledgered(container)[-1].rule == "registry.lookup-needs-reason"
    data = {"name": FTP_SPACE, "ticket": "HD-4711", "csrf": csrf}
    r = client.post("/console/ftp-spaces/sizes", data=data)
    assert r.status_code == 200, r.text
    assert svc["ftp_space"] in r.text
    assert 'id="ftp-files">2<' in r.text
    assert 'id="ftp-bytes">150 bytes<' in r.text
    assert "secret-plan" not in r.text
    assert ledgered(container)[-1].rule == "support-sees-ftp-space-sizes"


def page_default_denied(container: Container, page: Any, target: str) -> None:
    """The page is the 403 of a default deny for `target`, ledgered as the newest entry."""
    reason = default_deny_reason(target)
    last = ledgered(container)[-1]
    assert (page.status_code, last.decision, last.rule, last.reason) == (
        403, "deny", None, reason
    ), page.text  # fmt: skip
    assert "<code>default-deny</code>" in page.text
    assert html.escape(reason, quote=False) in page.text


def test_a_role_without_the_permission_gets_the_rule_and_nothing_changes(
    client: TestClient, container: Container
) -> None:
    _, ctr, _ = signed_in(client, container, "cora", "communications")
    page_default_denied(container, client.get("/console/cases"), "communications to list case")
    csrf = token_of(client, "/console/customers/find")
    r = client.post("/console/cases", data={"contract_id": ctr, "subject": "x", "csrf": csrf})
    page_default_denied(container, r, "communications to create case")
    assert count_rows(container.engine, "support_case") == 0
    data = {"by": "email", "value": CUSTOMER, "ticket": "HD-7", "csrf": csrf}
    r = client.post("/console/customers/find", data=data)
    page_default_denied(container, r, "communications to identify personal_details")
    assert "r***@example.com" not in r.text
    metadata = client.post("/console/mailboxes/metadata", data={"address": MAILBOX,
                                                                 "csrf": csrf})  # fmt: skip
    page_default_denied(container, metadata, "communications to list_metadata mailbox_metadata")
    assert "INBOX" not in metadata.text


def test_a_form_without_its_token_is_forged_and_changes_nothing(
    client: TestClient, container: Container
) -> None:
    _, ctr, _ = signed_in(client, container)
    r = client.post("/console/cases", data={"contract_id": ctr, "subject": "x"})
    assert r.status_code == 403
    assert "web.form-forged" in r.text
    assert ledgered(container)[-1].rule == "web.form-forged"
    assert count_rows(container.engine, "support_case") == 0
    case_id = open_case(client, ctr)
    r = client.post(f"/console/cases/{case_id}/resolve", data={"csrf": "0" * 64})
    assert r.status_code == 403
    assert "web.form-forged" in r.text
    assert 'id="case-status">open' in client.get(f"/console/cases/{case_id}").text


def test_malformed_ids_are_refused_without_a_500(client: TestClient, container: Container) -> None:
    agent(client, container, "sam", "support")
    assert client.get("/console/cases/not-a-case").status_code == 422
    assert client.get("/console/customers/alice@example.com?ticket=T1").status_code == 422
    assert ledgered(container)[-1].resource_id == "invalid"
    csrf = token_of(client, "/console/cases")
    r = client.post("/console/cases", data={"contract_id": "nope", "subject": "x", "csrf": csrf})
    assert r.status_code == 422
