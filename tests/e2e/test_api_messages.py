"""Messages over HTTP, on SQLite and PostgreSQL: an SMS identification with no way to send
the SMS is a 503 that stores nothing (never a 201 for a code that reached nobody); the
password-link route does the same work and gives the same answer whoever the address
belongs to, queues rather than sends, and is throttled per address; the health route shows
the outbox's backlog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.domain.outbox import OutboxStatus, Topic
from entrusted.entrypoints.api.app import create_app
from tests.conftest import FakeClock, count_rows
from tests.e2e.test_api_registry import ALICE, signup, staff_token

pytestmark = pytest.mark.promise("P1", "P7")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def test_sms_identification_without_a_transport_is_503_and_stores_nothing(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        staff_totp_required=False,
        mail_transport="directory",  # e-mail is configured, SMS is not
    )
    initialise(settings)
    c = build(settings, clock=FakeClock())
    try:
        with TestClient(create_app(container=c)) as client:
            alice = client.post("/v1/customers", json=ALICE, headers=signup(c)).json()["id"]
            support = staff_token(c, "support1", "support")
            r = client.post(
                "/v1/identifications",
                json={"customer_id": alice, "method": "sms_code"},
                headers=support,
            )
            assert r.status_code == 503, r.text
            assert "no SMS transport is configured" in r.json()["detail"]
            assert count_rows(c.engine, "identification") == 0
    finally:
        c.close()


def test_password_link_route_answers_alike_queues_and_throttles(
    client: TestClient, container: Container
) -> None:
    c = container
    client.post("/v1/customers", json=ALICE, headers=signup(c))
    c.outbox.deliver()
    mails_before = len(c.mailer.sent)  # type: ignore[attr-defined]
    answers = [
        client.post("/v1/customers/password-link", json={"email": address})
        for address in (ALICE["email"], "nobody@example.com")
    ]
    assert [(r.status_code, r.content) for r in answers] == [(202, answers[0].content)] * 2
    assert len(c.mailer.sent) == mails_before  # type: ignore[attr-defined]  # nothing sent yet
    pending = c.outbox.list(OutboxStatus.PENDING)
    assert [m.topic for m in pending] == [Topic.PASSWORD_LINK_REQUEST] * 2
    report = c.outbox.deliver()  # the worker resolves the addresses
    assert (report.sent, report.void) == (1, 1)
    assert c.mailer.sent[-1].to == ALICE["email"]  # type: ignore[attr-defined]
    for address in (ALICE["email"], "nobody@example.com"):
        statuses = [
            client.post("/v1/customers/password-link", json={"email": address}).status_code
            for _ in range(3)
        ]
        assert statuses == [202, 202, 429]  # 3 per address and hour, whoever owns it
    ready = client.get("/readyz").json()
    assert ready["outbox"] == {"pending": 4, "failed": 0}
