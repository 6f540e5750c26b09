"""Review finding: a mailing's page told communications only how many customers it reaches.
It now also says how many get it in each language and how many are left out and why, as
counts only: communications may not see who our customers are, so no address is shown. On
SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.bootstrap import Container
from tests.e2e.console_support import agent, token_of
from tests.e2e.web_support import client, ledgered, register_customer

pytestmark = pytest.mark.promise("P6")
__all__ = ["client"]  # the fixture, imported to be found

PEOPLE = {
    "ada.preview@example.com": "fr",
    "ben.preview@example.com": "fr",
    "cid.preview@example.com": "de",
    "dora.preview@example.com": "it",
}
NO_LANGUAGE = "eve.preview@example.com"
_COUNT = re.compile(r'data-count="(\w*)">(\d+)<')


def _compose(client: TestClient, purpose: str) -> str:
    csrf = token_of(client, "/console/mailings")
    data = {"purpose": purpose, "subject": "News", "body": "We have news for you.", "csrf": csrf}
    r = client.post("/console/mailings", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_the_preview_counts_languages_and_those_left_out_and_shows_no_address(
    client: TestClient, container: Container
) -> None:
    for email, lang in PEOPLE.items():
        register_customer(client, container, email, language=lang)
    register_customer(client, container, NO_LANGUAGE)
    agent(client, container, "cora", "communications")
    page = client.get(_compose(client, "new_service"))
    assert page.status_code == 200, page.text
    assert ledgered(container)[-1].action == "read"  # the view's one decision, ledgered
    assert dict(_COUNT.findall(page.text)) == {"fr": "2", "de": "1", "it": "1", "": "1"}
    assert 'id="mailing-excluded"><li>nobody' in page.text
    for email in [*PEOPLE, NO_LANGUAGE]:
        assert email not in page.text

    # Dora unsubscribes from new-service mailings; the next one leaves her out, and says so
    location = _compose(client, "new_service")
    csrf = token_of(client, location)
    sent = client.post(f"{location}/send", data={"csrf": csrf}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    mailer = container.mailer
    assert isinstance(mailer, DirectoryMailer)
    dora = "dora.preview@example.com"
    (hers,) = [m for m in mailer.written() if m.to == dora and "List-Unsubscribe" in m.headers]
    token = hers.headers["List-Unsubscribe"].split("token=", 1)[1].rstrip(">")
    body = {"List-Unsubscribe": "One-Click"}
    assert client.post(f"/v1/mailings/unsubscribe?token={token}", data=body).status_code == 200
    page = client.get(_compose(client, "new_service"))
    assert dict(_COUNT.findall(page.text)) == {"fr": "2", "de": "1", "": "1"}
    # not a reason of this mailing's: she was never among its recipients (a mailing to a
    # selection would otherwise count every opted-out customer as "left out", trial finding)
    assert 'id="mailing-excluded"><li>nobody' in page.text
    for email in [*PEOPLE, NO_LANGUAGE]:
        assert email not in page.text
