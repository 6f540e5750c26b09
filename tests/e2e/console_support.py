"""What the support console's tests share: a support agent signed in to the console, a
registered customer with a mailbox and an FTP space, and the steps an agent takes through the
pages (open a case, identify the caller) so each test starts where it matters."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.bootstrap import Container
from tests.e2e.web_support import STAFF_PASSWORD, console_sign_in, form_token

CASE_URL = re.compile(r"^/console/cases/(case_[0-9a-f]{16})$")
VERIFY_URL = re.compile(r'action="/console/identifications/(idn_[0-9a-f]{16})/verify"')


def agent(client: TestClient, container: Container, username: str, role: str) -> str:
    """A staff member with one role, signed in to the console; returns their id."""
    member = container.staff.add(username, f"{role.title()} Agent", [role], STAFF_PASSWORD)
    console_sign_in(client, username)
    return member.id


def token_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return form_token(page.text)


def open_case(client: TestClient, contract_id: str, subject: str = "Mail is slow") -> str:
    """Open a case through the pages; returns its id."""
    csrf = token_of(client, "/console/cases")
    r = client.post(
        "/console/cases",
        data={"contract_id": contract_id, "subject": subject, "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = CASE_URL.match(r.headers["location"])
    assert found, r.headers["location"]
    return found.group(1)


def identify(client: TestClient, container: Container, customer_id: str, case_id: str) -> None:
    """Identify the caller by a code e-mailed to them, through the case page's forms."""
    csrf = token_of(client, f"/console/cases/{case_id}")
    r = client.post(
        "/console/identifications",
        data={"customer_id": customer_id, "method": "email_code", "case_id": case_id,
              "csrf": csrf},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    found = VERIFY_URL.search(r.text)
    assert found, r.text
    mailer = container.mailer
    assert isinstance(mailer, DirectoryMailer)
    code = mailer.sent[-1].body.split("code is ")[1][:6]
    r = client.post(
        f"/console/identifications/{found.group(1)}/verify",
        data={"code": code, "case_id": case_id, "csrf": form_token(r.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/cases/{case_id}"
