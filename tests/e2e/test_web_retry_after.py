"""Review finding: the pages' error answers told the browser when to try again only on 429;
a 503 page (nothing was done, a dependency is busy or a receipt cannot be signed just now)
sent no `Retry-After`, though the API's problem answer for the same error does. Both are
provoked through real pages here. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.api import problems
from entrusted.entrypoints.web import errors as page_errors
from entrusted.services.staff import LoginLimits
from tests.e2e.web_support import client, form_token, portal_sign_in, register_customer

pytestmark = pytest.mark.promise("P14")
__all__ = ["client"]  # the fixture, imported to be found

EVE = "eve.retry@example.com"
_ROW = re.compile(r'<tr id="entry-(\d+)"')


def test_the_pages_and_the_api_tell_the_same_wait_after_a_503() -> None:
    assert page_errors.UNAVAILABLE_RETRY_AFTER_S == problems.UNAVAILABLE_RETRY_AFTER_S > 0


def test_too_many_wrong_portal_sign_ins_answer_429_with_retry_after(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, EVE)
    limits = LoginLimits()
    answers = []
    for _ in range(limits.max_failures_per_account + 1):
        token = form_token(client.get("/portal/signin").text)
        r = client.post(
            "/portal/signin", data={"email": EVE, "password": "not the passphrase", "csrf": token}
        )
        answers.append(r.status_code)
    assert answers == [401] * limits.max_failures_per_account + [429]
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["retry-after"] == str(int(limits.window.total_seconds()))
    assert f"try again in {r.headers['retry-after']} seconds" in r.text


def test_a_receipt_that_cannot_be_signed_answers_503_with_retry_after(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, EVE)
    portal_sign_in(client, EVE)
    client.get("/portal/history")  # each view is ledgered: the next one has an entry to ask for
    container.checkpoints.halt("a witness objected (test)")
    rows = [int(i) for i in _ROW.findall(client.get("/portal/history").text)]
    newest = max(rows)
    published = container.checkpoints.published()
    assert published is None or newest >= published.size  # not under a signed checkpoint
    r = client.get(f"/portal/history/{newest}/receipt")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "Nothing was changed" in r.text
    assert r.headers["retry-after"] == str(problems.UNAVAILABLE_RETRY_AFTER_S)
