"""Mailings (P6, P7) wired by the composition root, on SQLite and PostgreSQL, sent to a real
SMTP server (aiosmtpd) on loopback: who each purpose reaches, what every message carries,
what the ledger holds (purpose, mailing id, counts; never text or addresses), every refusal
of issue 16 ledgered with the rule or outcome that refused it, and a relay that refuses a
recipient or goes away midway: nobody mailed twice, failures listed, a resume sends the rest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from entrusted.adapters.db.mailing_store import SqlCustomerAudience, SqlMailingStore
from entrusted.adapters.smtp import SmtpMailer
from entrusted.bootstrap import WORKER, Container
from entrusted.domain.audit import AuditEntry
from entrusted.domain.mailings import (
    PURPOSE_HEADER,
    DeliveryStatus,
    Mailing,
    MailingStatus,
    MailPurpose,
)
from entrusted.errors import InvalidInput, NotFound
from entrusted.services.events import PolicyDocumentPublished
from entrusted.services.mailing_send import MailingSender, SendReport
from entrusted.services.mailings import MailingDraft
from entrusted.services.messaging import Outgoing
from entrusted.services.outcomes import Outcome
from tests.conftest import FakeClock
from tests.installations import Installations
from tests.integration.mail_support import Relay, built, relay, smtp_settings
from tests.integration.test_consent_sql import register
from tests.integration.test_registry_sql import ledgered, staff
from tests.integration.test_smtp_adapter import HOST, SENDER, raw_headers
from tests.refusals import default_denied, refused_by

pytestmark = pytest.mark.promise("P6", "P7")

__all__ = ["relay"]  # the fixture, imported to be found

TEXT = "Our mail servers were unreachable from 10:00 to 10:40 UTC; no mail was lost.\n"


@pytest.fixture
def c(
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
        public_url="https://hosting.example.com",
    )
    installations.install(settings)
    with built(settings, clock) as container:
        yield container


def customers(c: Container, n: int) -> list[tuple[str, dict[str, str]]]:
    """`n` customers, registered a second apart (the order a mailing takes them in)."""
    clock = c.clock
    assert isinstance(clock, FakeClock)
    out = []
    for i in range(1, n + 1):
        customer_id, _, services = register(c, i)
        out.append((customer_id, services))
        clock.advance(seconds=1)
    return out


def addressed(relay: Relay) -> list[str]:
    return [to for r in relay.recorder.received for to in r.rcpt_tos]


def test_incident_reaches_exactly_the_holders_and_the_ledger_holds_no_content(
    c: Container,
    relay: Relay,
) -> None:
    people = customers(c, 4)
    clerk = staff(c, "carla", "communications")
    affected = (people[0][1]["mailbox"], people[2][1]["ftp_space"])
    draft = MailingDraft("incident", "Mail outage this morning", TEXT, services=affected)
    mailing = c.mailings.compose.compose(clerk, draft)
    assert mailing.recipients == 2
    report = c.mailings.sender.send(clerk, mailing.id)

    assert (report.progress.sent, report.progress.total, report.stopped) == (2, 2, None)
    assert sorted(addressed(relay)) == ["reto1@example.com", "reto3@example.com"]
    message = relay.recorder.received[0].message
    assert message["Auto-Submitted"] == "auto-generated"
    assert message[PURPOSE_HEADER] == "incident"
    assert message["Feedback-ID"].startswith(f"{mailing.id}:incident:mailing:")
    assert message["List-Unsubscribe"] is None  # only new-service mail offers one
    assert c.mailings.compose.view(clerk, mailing.id).mailing.status is MailingStatus.DONE

    entries = [e for e in ledgered(c) if e.resource_id == mailing.id and e.action != "read"]
    assert [(e.action, e.decision, e.rule) for e in entries] == [
        ("create", "allow", "communications-mails-own-customers"),
        ("create", "allow", Outcome.MAILING_COMPOSED.value),
        ("mail", "allow", "communications-mails-own-customers"),
        ("mail", "allow", Outcome.MAILING_SENT.value),
    ]
    assert all(e.refs.get("purpose") == "incident" for e in entries)
    assert "2 sent, 0 refused, 0 pending, 0 unknown of 2" in entries[-1].reason
    written = repr(entries)
    assert "example.com" not in written
    assert "outage" not in written


def test_new_service_offers_one_click_unsubscribe_and_honours_it(
    c: Container,
    relay: Relay,
) -> None:
    customers(c, 3)
    clerk = staff(c, "carla", "communications")
    first = c.mailings.compose.compose(clerk, MailingDraft("new_service", "New: backups", TEXT))
    c.mailings.sender.send(clerk, first.id)
    message = relay.recorder.received[0].message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"]
    assert link.startswith("<https://hosting.example.com/v1/mailings/unsubscribe?token=")
    token = link.split("token=", 1)[1].rstrip(">")

    c.mailings.sender.unsubscribe(token)
    c.mailings.sender.unsubscribe(token)  # a second click changes nothing
    assert ledgered(c)[-1].rule == Outcome.MAILING_UNSUBSCRIBED.value
    with pytest.raises(InvalidInput):
        c.mailings.sender.unsubscribe("x" * 32)

    again = c.mailings.compose.compose(clerk, MailingDraft("new_service", "New: DNS", TEXT))
    terms = c.mailings.compose.compose(clerk, MailingDraft("terms_amendment", "Terms", TEXT))
    assert (again.recipients, terms.recipients) == (2, 3)


def test_every_refusal_is_ledgered_with_what_refused(c: Container) -> None:
    people = customers(c, 2)
    clerk = staff(c, "carla", "communications")

    def last() -> AuditEntry:
        return ledgered(c)[-1]

    compose = c.mailings.compose.compose
    cases = [
        (MailingDraft(None, "S", TEXT), "purpose"),
        (MailingDraft("newsletter", "S", TEXT), "purpose"),
        (MailingDraft("security", "S", TEXT), "purpose"),
        (MailingDraft("terms_amendment", "S", TEXT, sender="Partner <ads@partner.example>"),
         "sender"),
        (MailingDraft("new_service", "S", TEXT, third_party={"sponsor": "Partner AG"}),
         "sponsor"),
        (MailingDraft("incident", "S", TEXT), "services"),
    ]  # fmt: skip
    for draft, field in cases:
        with pytest.raises(InvalidInput) as info:
            compose(clerk, draft)
        assert info.value.field == field
        entry = last()
        assert (entry.decision, entry.rule) == ("deny", Outcome.MAILING_REFUSED.value)
        assert "Partner" not in repr(entry)

    stranger = "cus_00000000000000ff"
    with default_denied("communications to create mailing", without="own_customer", ledger=last):
        compose(clerk, MailingDraft("terms_amendment", "S", TEXT, recipients=(stranger,)))
    incident = MailingDraft(
        "incident", "S", TEXT, services=(people[0][1]["mailbox"],), recipients=(people[1][0],)
    )
    with refused_by(Outcome.MAILING_OUTSIDE_AUDIENCE.value, ledger=last):
        compose(clerk, incident)
    support = staff(c, "sam", "support")
    with default_denied("support to create mailing", ledger=last):
        compose(support, MailingDraft("terms_amendment", "S", TEXT))
    assert c.mailings.compose.recent(clerk) == []


class DropsMidway:
    """A relay that accepts `accept` messages, then hangs up in the middle of the next one;
    recipients in `refuse` are refused for good."""

    def __init__(self, accept: int, refuse: set[str]) -> None:
        self.accept = accept
        self.refuse = refuse
        self.received: list[str] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if len(self.received) >= self.accept:
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.2 going away"
        self.received.extend(envelope.rcpt_tos)
        return "250 OK"


def test_a_relay_that_refuses_and_drops_midway_is_resumed_without_doubles(
    c: Container,
    relay: Relay,
) -> None:
    customers(c, 7)
    clerk = staff(c, "carla", "communications")
    handler = DropsMidway(accept=3, refuse={"reto2@example.com"})
    relay.controller.handler = handler
    mailing = c.mailings.compose.compose(clerk, MailingDraft("terms_amendment", "Terms", TEXT))
    seen: list[int] = []
    report = c.mailings.sender.send(clerk, mailing.id, lambda p: seen.append(p.sent))

    assert report.stopped is not None
    assert (report.progress.sent, report.progress.refused) == (3, 1)
    assert (report.progress.pending, report.progress.unknown) == (2, 1)
    assert seen == [3]
    refused = [d for d in report.problems if d.status is DeliveryStatus.REFUSED]
    assert [d.seq for d in refused] == [2]
    assert "550" in (refused[0].error or "")
    # Issue 16 item 4: the relay hung up after it had the whole DATA of seq 5, before its
    # reply: it may have delivered it, so it is unknown (`sending`), listed, never resent.
    in_flight = [d for d in report.problems if d.status is DeliveryStatus.SENDING]
    assert [d.seq for d in in_flight] == [5]
    assert "may be delivered" in (in_flight[0].error or "")
    entry = ledgered(c)[-1]
    assert (entry.rule, entry.decision) == (Outcome.MAILING_SENT.value, "deny")
    assert c.mailings.compose.view(clerk, mailing.id).mailing.status is MailingStatus.INCOMPLETE

    handler.accept = 100
    resumed = c.mailings.sender.send(clerk, mailing.id)
    assert (resumed.progress.sent, resumed.progress.refused, resumed.stopped) == (5, 1, None)
    assert resumed.progress.unknown == 1
    assert sorted(handler.received) == sorted(
        f"reto{i}@example.com" for i in (1, 3, 4, 6, 7)
    )  # each at most once: the refused one never, the one in flight not again


def test_a_published_policy_document_is_announced_to_every_customer(
    c: Container,
    relay: Relay,
) -> None:
    customers(c, 2)
    legal = staff(c, "lena", "legal")
    event = PolicyDocumentPublished("pdv_0000000000000001", date(2027, 1, 1), "New §4.", legal)
    c.events.publish(event)  # as the policy document's service does once it committed
    assert "2/2 sent" in (next(j for j in c.jobs if j.name == "mailings.send").run() or "")
    assert sorted(addressed(relay)) == ["reto1@example.com", "reto2@example.com"]
    assert relay.recorder.received[0].message[PURPOSE_HEADER] == "terms_amendment"
    assert any(e.actor_id == WORKER.id and e.rule == Outcome.MAILING_SENT.value
               for e in ledgered(c))  # fmt: skip


def test_a_batch_over_one_connection_carries_each_message_whole(relay: Relay) -> None:
    mailer = SmtpMailer(HOST, relay.port, False, None, None, SENDER, 5.0)
    unsubscribe = "<https://hosting.example.com/v1/mailings/unsubscribe?token=abc>"
    batch = [
        Outgoing(f"kunde{i}@example.com", "Änderung der Datenschutzerklärung",
                 "Grüezi,\n.\nneu: §4.\n", {"List-Unsubscribe": unsubscribe})
        for i in range(3)
    ]  # fmt: skip
    result = mailer.send_many(batch, purpose=MailPurpose.TERMS_AMENDMENT)
    assert result.stopped is None
    assert len({h.message_id for h in result.handed}) == 3
    got = [r.message for r in relay.recorder.received]
    assert [str(m["To"]) for m in got] == [f"kunde{i}@example.com" for i in range(3)]
    for m, handed in zip(got, result.handed, strict=True):
        assert m["Subject"] == "Änderung der Datenschutzerklärung"
        assert m["Message-ID"] == handed.message_id
        assert m[PURPOSE_HEADER] == "terms_amendment"
        assert m["List-Unsubscribe"] == unsubscribe
        body = m.get_body(("plain",))
        assert body is not None
        assert body.get_content() == "Grüezi,\r\n.\r\nneu: §4.\r\n"  # as `send` delivers it


def test_two_runs_of_one_mailing_at_once_mail_nobody_twice(
    c: Container,
    relay: Relay,
) -> None:
    customers(c, 10)
    clerk = staff(c, "carla", "communications")
    mailing = c.mailings.compose.compose(clerk, MailingDraft("terms_amendment", "Terms", TEXT))
    senders = [
        MailingSender(
            c.gate, SqlMailingStore(c.engine), SqlCustomerAudience(c.engine), c.registry_keys,
            c.mailer, c.clock, SENDER, "https://hosting.example.com/u", batch=2,
        )
        for _ in range(2)
    ]  # fmt: skip
    reports: list[SendReport] = []
    runs = [
        threading.Thread(target=lambda s=s: reports.append(s.send(clerk, mailing.id)))
        for s in senders
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
    assert len(reports) == 2
    assert sorted(addressed(relay)) == sorted(f"reto{i}@example.com" for i in range(1, 11))
    assert c.mailings.compose.view(clerk, mailing.id).progress.sent == 10


# --- issue 16 item 2: the outside trial's findings -------------------------------------------


def test_a_new_service_message_carries_its_structured_headers_raw_and_auto_submitted_once(
    c: Container,
    relay: Relay,
) -> None:
    customers(c, 1)
    clerk = staff(c, "carla", "communications")
    mailing = c.mailings.compose.compose(clerk, MailingDraft("new_service", "New: backups", TEXT))
    c.mailings.sender.send(clerk, mailing.id)
    (data,) = relay.recorder.raw  # the DATA as the relay got it, not re-parsed
    head = raw_headers(data)
    link = [h for h in head if h.startswith(b"List-Unsubscribe: ")]
    assert len(link) == 1
    assert link[0].startswith(b"List-Unsubscribe: <https://hosting.example.com/v1/mailings/")
    assert link[0].endswith(b">")
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
    assert sum(h.lower().startswith(b"auto-submitted:") for h in head) == 1
    assert [h for h in head if h.startswith(b"Feedback-ID: ")] == [
        f"Feedback-ID: {mailing.id}:new_service:mailing:example.com".encode()
    ]


@pytest.mark.parametrize("bad", ["\u2028", "\u0085", "\v", "\x1c", "\r\nBcc: x", "\x1b[2J"])
def test_a_subject_with_control_characters_is_refused_at_compose_and_ledgered(
    c: Container, bad: str
) -> None:
    customers(c, 1)
    clerk = staff(c, "carla", "communications")
    with pytest.raises(InvalidInput) as info:
        c.mailings.compose.compose(clerk, MailingDraft("terms_amendment",
                                                       f"Outage{bad}", TEXT))  # fmt: skip
    assert info.value.field == "subject"
    entry = ledgered(c)[-1]
    assert (entry.decision, entry.rule) == ("deny", Outcome.MAILING_REFUSED.value)
    assert "Outage" not in repr(entry)
    assert c.mailings.compose.recent(clerk) == []


def test_a_message_that_cannot_be_built_is_refused_for_good_never_left_sending(
    c: Container,
    relay: Relay,
) -> None:
    """A mailing stored before compose refused such subjects must still finish cleanly."""
    people = customers(c, 2)
    clerk = staff(c, "carla", "communications")
    mailing = Mailing("mlg_00000000000000aa", MailPurpose.TERMS_AMENDMENT, "Terms\u2028Bcc: x",
                      TEXT, clerk.id, c.clock(), recipients=2)  # fmt: skip
    SqlMailingStore(c.engine).create(mailing, [p[0] for p in people])
    report = c.mailings.sender.send(clerk, mailing.id)
    assert (report.progress.refused, report.progress.pending, report.progress.unknown) == (2, 0, 0)
    assert all("cannot be built" in (d.error or "") for d in report.problems)
    assert c.mailings.compose.view(clerk, mailing.id).mailing.status is MailingStatus.DONE
    assert relay.recorder.raw == []


class RefusesData:
    """A relay that answers DATA with `reply`."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        return self.reply


def test_a_5xx_to_data_is_a_permanent_refusal_a_4xx_stays_pending(
    c: Container,
    relay: Relay,
) -> None:
    customers(c, 2)
    clerk = staff(c, "carla", "communications")
    relay.controller.handler = RefusesData("451 4.7.1 greylisted")
    mailing = c.mailings.compose.compose(clerk, MailingDraft("terms_amendment", "Terms", TEXT))
    later = c.mailings.sender.send(clerk, mailing.id)
    assert (later.progress.pending, later.progress.refused) == (2, 0)
    relay.controller.handler = RefusesData("554 5.7.1 message rejected")
    final = c.mailings.sender.send(clerk, mailing.id)
    assert (final.progress.refused, final.progress.pending) == (2, 0)
    assert all("554" in (d.error or "") for d in final.problems)
    assert c.mailings.compose.view(clerk, mailing.id).mailing.status is MailingStatus.DONE


def test_the_remaining_refusals_are_ledgered_too(c: Container) -> None:
    customers(c, 1)
    clerk = staff(c, "carla", "communications")
    compose = c.mailings.compose.compose
    cases = [
        (MailingDraft("incident", "S", TEXT, services=("svc_00000000000000ff",)), "services"),
        (MailingDraft("terms_amendment", "S", "  \n"), "body"),
        (MailingDraft("terms_amendment", "S\r\nBcc: x", TEXT), "subject"),
        (MailingDraft("terms_amendment", "S", TEXT, services=("svc_00000000000000ff",)),
         "services"),
        (MailingDraft("new_service", "S", TEXT, third_party={"sponsor": ""}), "sponsor"),
    ]  # fmt: skip
    for draft, field in cases:
        before = len(ledgered(c))
        with pytest.raises(InvalidInput) as info:
            compose(clerk, draft)
        assert info.value.field == field
        entries = ledgered(c)
        assert len(entries) == before + 1
        assert (entries[-1].decision, entries[-1].rule) == ("deny", Outcome.MAILING_REFUSED.value)
    with pytest.raises(InvalidInput) as info:
        compose(clerk, MailingDraft("newsletter", "S", TEXT))
    assert str(info.value).count("purpose:") == 1


def test_a_replayed_unsubscribe_link_is_ledgered_once(
    c: Container,
    relay: Relay,
) -> None:
    customers(c, 1)
    clerk = staff(c, "carla", "communications")
    mailing = c.mailings.compose.compose(clerk, MailingDraft("new_service", "New", TEXT))
    c.mailings.sender.send(clerk, mailing.id)
    link = relay.recorder.received[0].message["List-Unsubscribe"]
    token = link.split("token=", 1)[1].rstrip(">")
    for _ in range(22):
        c.mailings.sender.unsubscribe(token)
    rules = [e.rule for e in ledgered(c)]
    assert rules.count(Outcome.MAILING_UNSUBSCRIBED.value) == 1


def test_sending_an_unknown_mailing_is_not_found_and_ledgered(c: Container) -> None:
    clerk = staff(c, "carla", "communications")
    with pytest.raises(NotFound):
        c.mailings.sender.send(clerk, "mlg_00000000000000ff")
    entry = ledgered(c)[-1]
    assert (entry.action, entry.decision, entry.rule) == (
        "mail",
        "deny",
        Outcome.MAILING_REFUSED.value,
    )
    support = staff(c, "sam", "support")
    with default_denied("support to read mailing", ledger=lambda: ledgered(c)[-1]):
        c.mailings.sender.send(support, "mlg_00000000000000ff")


# --- issue 16 item 2, review findings ----------------------------------------------------------
