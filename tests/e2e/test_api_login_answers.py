"""A staff login refused for want of the required second factor answers exactly what a wrong
password answers, status and body (trial finding: a member without TOTP got a distinct
message only when the password was right, which confirmed guessed passwords)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import build
from entrusted.config import Settings
from entrusted.entrypoints.api.app import create_app
from tests.conftest import FakeClock
from tests.installations import Installations

pytestmark = pytest.mark.promise("P2", "P12")

PASSWORD = "correct horse battery"


@pytest.fixture
def client(
    settings: Settings, clock: FakeClock, installations: Installations
) -> Iterator[TestClient]:
    required = settings.model_copy(update={"staff_totp_required": True})
    installations.install(required)
    c = build(required, clock=clock)
    try:
        c.staff.add("ana", "Ana", ["support"], PASSWORD)
        with TestClient(create_app(container=c)) as http:
            yield http
    finally:
        c.close()


def test_right_and_wrong_passwords_of_an_unenrolled_member_answer_alike(
    client: TestClient,
) -> None:
    answers = []
    for body in (
        {"username": "ana", "password": PASSWORD},
        {"username": "ana", "password": "wrong horse battery"},
        {"username": "ana", "password": PASSWORD, "totp": "123456"},
        {"username": "nobody", "password": PASSWORD},
    ):
        r = client.post("/v1/auth/login", json=body)
        answers.append((r.status_code, r.headers.get("www-authenticate"), r.content))
    assert answers[0][0] == 401
    assert all(a == answers[0] for a in answers), answers
    assert b"second factor" not in answers[0][2]
