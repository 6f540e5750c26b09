"""Messages, durable and honest, on SQLite and PostgreSQL with a real SMTP relay (aiosmtpd):
what the policy requires before something takes effect is accepted by the relay first, or
nothing exists; every other notice waits in the outbox, retried with backoff, visibly failed;
and there is no silent in-memory transport."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import OutboxStatus, Topic
from entrusted.errors import InvalidInput, Unavailable
from tests.conftest import FakeClock, count_rows
from tests.installations import Installations
from tests.integration.mail_support import Relay, built, relay, smtp_settings
from tests.integration.test_consent_sql import WHY, register
from tests.integration.test_registry_sql import ledgered, staff

pytestmark = pytest.mark.promise("P7")

__all__ = ["Relay", "relay"]  # the fixture, and what the other relay tests import from here


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def smtp_container(
    database_url: str,
    tmp_path: Path,
    relay: Relay,
    clock: FakeClock,
    installations: Installations,
) -> Iterator[Container]:
    settings = smtp_settings(
        database_url,
        tmp_path,
        relay.port,
        staff_totp_required=False,
        outbox_retry_s=30,
        outbox_max_attempts=3,
    )
    installations.install(settings)
    with built(settings, clock) as c:
        yield c


def test_consent_is_not_created_unless_the_relay_accepted_its_message(
    smtp_container: Container, relay: Relay
) -> None:
    c = smtp_container
    support = staff(c, "sam", "support")
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(support, ctr, "Phone call")
    started = c.identification.start(support, cus, "email_code", case_id=case.id)
    body = relay.recorder.received[-1].message.get_body(("plain",))  # text and HTML parts
    assert body is not None
    code = str(body.get_content()).split("code is ")[1][:6]
    c.identification.verify(support, started.id, code)  # the code went through the relay
    before = len(relay.recorder.received)
    for failure in ("refuses", "is down"):
        if failure == "refuses":
            relay.recorder.data_reply = "451 4.3.0 Try again later"
        else:
            relay.stop()
        with pytest.raises(Unavailable, match="nothing was granted") as receipt:
            c.verbal_consent.record(support, case.id, svc["ftp_space"], read_back=True)
        last = ledgered(c)[-1]
        assert (last.decision, last.rule) == ("deny", "consent.receipt-undeliverable")
        with pytest.raises(Unavailable, match="nothing was stored") as request:
            c.consent.request(support, case.id, svc["mailbox"], WHY)
        last = ledgered(c)[-1]
        assert (last.decision, last.rule) == ("deny", "consent.request")
        expected = "451" if failure == "refuses" else "unreachable"
        assert expected in str(receipt.value)
        assert expected in str(request.value)
        for table in ("consent_grant", "verbal_consent", "access_request", "outbox"):
            assert count_rows(c.engine, table) == (1 if table == "outbox" else 0), table
    assert len(relay.recorder.received) == before


def test_notices_wait_in_the_outbox_retry_with_backoff_and_fail_visibly(
    smtp_container: Container, relay: Relay, clock: FakeClock
) -> None:
    c = smtp_container
    cus, _, _ = register(c, 1)  # queues a password link, in the registration's transaction
    (queued,) = c.outbox.list()
    assert (queued.topic, queued.ref, queued.status) == (Topic.PASSWORD_LINK, cus, "pending")
    relay.recorder.data_reply = "451 4.3.0 Try again later"
    first = c.outbox.deliver()
    assert (first.sent, first.retrying) == (0, 1)
    (after,) = c.outbox.list()
    assert after.attempts == 1
    assert after.next_attempt_at == clock.now + timedelta(seconds=30)
    assert after.last_error is not None
    assert "451" in after.last_error
    assert c.outbox.deliver().retrying == 0  # not due yet: nothing attempted
    clock.advance(seconds=30)
    assert c.outbox.deliver().retrying == 1
    (after,) = c.outbox.list()
    assert after.next_attempt_at == clock.now + timedelta(seconds=60)  # doubled
    clock.advance(seconds=60)
    assert c.outbox.deliver().failed == 1  # the third attempt of three
    assert c.outbox.counts()[OutboxStatus.FAILED] == 1
    assert c.outbox.list(OutboxStatus.FAILED)[0].attempts == 3
    assert relay.recorder.received == []
    # A new notice goes out once the relay is back; the failed one stays for the operator.
    relay.recorder.data_reply = "250 2.0.0 OK"
    register(c, 2)
    assert c.outbox.deliver().sent == 1
    (mail,) = relay.recorder.received
    text = mail.message.get_body(("plain",))  # multipart/alternative since issue 18
    assert text is not None
    assert "#token=entl_" in str(text.get_content())
    assert c.outbox.counts()[OutboxStatus.FAILED] == 1


def test_no_transport_means_a_clear_error_never_an_in_memory_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", staff_totp_required=False)
    initialise(settings)
    c = build(settings)
    try:
        with pytest.raises(InvalidInput, match="smtp_host") as refused:
            c.require_transports()
        assert "sms_gateway_url" in str(refused.value)
        with pytest.raises(Unavailable, match="no mail transport"):
            c.mailer.send("alice@example.com", "Code", "123456", purpose=MailPurpose.SECURITY)
        with pytest.raises(Unavailable, match="no SMS transport"):
            c.sms.send("+41790000000", "Code 123456")
    finally:
        c.close()


def test_directory_transport_writes_private_files(container: Container) -> None:
    c = container
    notes = c.require_transports()
    assert any("DirectoryMailer" in n for n in notes)
    message_id = c.mailer.send(
        "alice@example.com", "Your code", "123456", purpose=MailPurpose.SECURITY
    )
    c.sms.send("+41790000000", "Your code is 123456")
    folder = c.settings.effective_message_dir
    (eml,) = (folder / "mail").glob("*.eml")
    (sms,) = (folder / "sms").glob("*.json")
    for path in (eml, sms):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "mail").stat().st_mode) == 0o700
    assert message_id.encode() in eml.read_bytes()
    assert c.mailer.sent[-1].body.strip() == "123456"  # type: ignore[attr-defined]
    assert c.sms.sent[-1].to == "+41790000000"  # type: ignore[attr-defined]
