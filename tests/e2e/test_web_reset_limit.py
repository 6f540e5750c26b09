"""Review finding: beyond three password-link requests per address and hour the reset page
answered a bare 429, though the customer (whose three requests anyone can use up) already
has a working link. The 429 now says so, in the visitor's language, keeps `Retry-After`, and
reads the same for an address that is nobody's. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from tests.conftest import FakeClock
from tests.e2e.web_support import client, form_token, mails_to, register_customer

pytestmark = pytest.mark.promise("P14")
__all__ = ["client"]  # the fixture, imported to be found

ALICE = "alice.reset@example.com"
NOBODY = "nobody.reset@example.com"
SAID = "Use the newest one in your mailbox; each new link replaces the older ones."


def _ask(client: TestClient, email: str, times: int) -> list[tuple[int, str, str | None]]:
    answers = []
    for _ in range(times):
        token = form_token(client.get("/portal/password-reset").text)
        r = client.post("/portal/password-reset", data={"email": email, "csrf": token})
        answers.append((r.status_code, r.text, r.headers.get("retry-after")))
    return answers


def test_the_fourth_request_explains_alike_for_a_customer_and_a_stranger(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, ALICE)
    before = len(mails_to(container, ALICE))
    mine = _ask(client, ALICE, 4)
    theirs = _ask(client, NOBODY, 4)
    assert [a[0] for a in mine] == [a[0] for a in theirs] == [200, 200, 200, 429]
    _, body, retry = mine[-1]
    assert retry == theirs[-1][2] == "3600"
    assert SAID in body
    assert "You can ask again after" in body
    assert 'id="reset-limited"' in body
    assert body.replace(ALICE, "") == theirs[-1][1].replace(NOBODY, "")
    links = [m for m in mails_to(container, ALICE)[before:] if "#token=entl_" in m]
    assert len(links) == 3  # the fourth request sent nothing
    assert mails_to(container, NOBODY) == []


def test_the_explanation_is_in_the_visitors_language(
    client: TestClient, container: Container
) -> None:
    _ask(client, NOBODY, 3)
    client.get("/portal/password-reset?lang=de")
    status, body, retry = _ask(client, NOBODY, 1)[0]
    assert (status, retry) == (429, "3600")
    assert "Verwenden Sie den neuesten in Ihrem Postfach" in body
    assert "erneut einen Link anfordern" in body


def test_the_wait_is_until_the_oldest_request_ages_out_and_refusals_do_not_extend_it(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    """Trial finding: the page said "ask again in an hour" from every refused request, as if
    each one pushed the block back. Refused requests are not counted: a place frees when the
    oldest of the hour's three ages out, and the page says when, with its zone."""
    _ask(client, NOBODY, 3)
    clock.advance(minutes=10)
    status, body, retry = _ask(client, NOBODY, 1)[0]
    assert (status, retry) == (429, "3000")  # 50 minutes left, not a fresh hour
    assert "Europe/Zurich" in body
    clock.advance(minutes=49, seconds=59)
    assert _ask(client, NOBODY, 1)[0][2] == "1"
    clock.advance(seconds=1)
    # the three have aged out together: three more may be asked, then the wait is an hour
    assert [a[0] for a in _ask(client, NOBODY, 4)] == [200, 200, 200, 429]
