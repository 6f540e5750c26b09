"""Mailings when things go wrong at send time (issue 16 item 2, review findings), on SQLite and
PostgreSQL with a real aiosmtpd relay: a run that raises after claiming a batch strands nothing,
customers closed or opted out since composing are refused per delivery, the worker announces
terms amendments only, and only a message the relay had whole counts as in flight."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session

from entrusted.adapters.db import tables
from entrusted.adapters.db.mailing_store import SqlCustomerAudience, SqlMailingStore
from entrusted.adapters.smtp import SmtpMailer
from entrusted.bootstrap import WORKER, Container
from entrusted.domain.mailings import (
    Mailing,
    MailingStatus,
    MailPurpose,
)
from entrusted.domain.registry import CustomerStatus
from entrusted.errors import Unavailable
from entrusted.services.mailing_send import MailingSender
from entrusted.services.mailings import MailingDraft
from entrusted.services.messaging import BatchResult, MailSender, Outgoing
from entrusted.services.outcomes import Outcome
from tests.integration.test_mailings_sql import TEXT, addressed, c, customers
from tests.integration.test_messages_sql import Relay, relay
from tests.integration.test_registry_sql import ledgered, staff
from tests.integration.test_smtp_adapter import HOST, SENDER
from tests.refusals import default_denied

pytestmark = pytest.mark.promise("P6", "P7")

__all__ = ["c", "relay"]  # the fixtures, imported to be found


class FailingMailer:
    """A transport whose batch send raises, as a relay adapter that is down may."""

    def __init__(self, inner: MailSender) -> None:
        self.inner = inner
        self.calls = 0

    def send(self, *args: Any, **kwargs: Any) -> str:
        return self.inner.send(*args, **kwargs)

    def send_many(self, messages: Sequence[Outgoing], *, purpose: MailPurpose) -> BatchResult:
        self.calls += 1
        raise Unavailable("mail relay down")


def sender_with(c: Container, mailer: Any, keys: Any = None) -> MailingSender:
    return MailingSender(
        c.gate, SqlMailingStore(c.engine), SqlCustomerAudience(c.engine),
        keys or c.registry_keys, mailer, c.clock, SENDER, "https://hosting.example.com/u",
    )  # fmt: skip


def test_a_run_that_raises_after_claiming_strands_nothing_and_is_resumable(
    c: Container,
    relay: Relay,
) -> None:
    """Item 1: the claimed batch goes back to pending (no attempt), the mailing is
    incomplete, the allow has its outcome (a deny naming the failure), the error reaches
    the caller; a second send sends everyone once."""
    customers(c, 3)
    clerk = staff(c, "carla", "communications")
    mailing = c.mailings.compose.compose(clerk, MailingDraft("terms_amendment", "Terms", TEXT))
    failing = FailingMailer(c.mailer)
    with pytest.raises(Unavailable):
        sender_with(c, failing).send(clerk, mailing.id)
    assert failing.calls == 1
    view = c.mailings.compose.view(clerk, mailing.id)
    assert (view.progress.pending, view.progress.unknown, view.progress.sent) == (3, 0, 0)
    assert view.mailing.status is MailingStatus.INCOMPLETE
    entries = [e for e in ledgered(c) if e.resource_id == mailing.id and e.action == "mail"]
    assert [(e.decision, e.rule) for e in entries] == [
        ("allow", "communications-mails-own-customers"),
        ("deny", Outcome.MAILING_SENT.value),
    ]
    assert "Unavailable" in entries[-1].reason
    d = tables.mailing_delivery.c
    with c.engine.connect() as conn:
        rows = conn.execute(sa.select(d.status, d.attempts, d.run_id)
                            .where(d.mailing_id == mailing.id)).all()  # fmt: skip
    assert {tuple(r) for r in rows} == {("pending", 0, None)}  # no attempt counted

    def no_keys() -> Any:
        raise Unavailable("registry key file missing")

    with pytest.raises(Unavailable):
        sender_with(c, c.mailer, no_keys).send(clerk, mailing.id)
    assert c.mailings.compose.view(clerk, mailing.id).progress.pending == 3
    assert addressed(relay) == []

    report = c.mailings.sender.send(clerk, mailing.id)
    assert (report.progress.sent, report.progress.unknown, report.stopped) == (3, 0, None)
    assert sorted(addressed(relay)) == [f"reto{i}@example.com" for i in (1, 2, 3)]


def close_customer(c: Container, customer_id: str) -> None:
    """No service closes a customer yet (the registry keeps the row, status `closed`)."""
    with c.engine.begin() as conn:
        conn.execute(
            tables.customer.update()
            .where(tables.customer.c.id == customer_id)
            .values(status=CustomerStatus.CLOSED.value)
        )


def test_a_customer_closed_since_composing_is_refused_and_the_rest_is_sent(
    c: Container,
    relay: Relay,
) -> None:
    """Item 2: one recipient no longer a customer does not block the mailing."""
    people = customers(c, 3)
    clerk = staff(c, "carla", "communications")
    mailing = c.mailings.compose.compose(clerk, MailingDraft("terms_amendment", "Terms", TEXT))
    close_customer(c, people[1][0])
    report = c.mailings.sender.send(clerk, mailing.id)
    assert (report.progress.sent, report.progress.refused, report.progress.pending) == (2, 1, 0)
    assert [(d.customer_id, d.error) for d in report.problems] == [
        (people[1][0], "no longer a customer")
    ]
    assert sorted(addressed(relay)) == ["reto1@example.com", "reto3@example.com"]
    entry = next(e for e in ledgered(c) if e.resource_id == mailing.id and e.action == "mail")
    assert (entry.decision, entry.rule) == ("allow", "communications-mails-own-customers")


def test_a_stored_mailing_to_a_stranger_is_still_refused_at_send(c: Container) -> None:
    """Item 2: the gate's decision at send stays meaningful (composed to our customers)."""
    people = customers(c, 1)
    clerk = staff(c, "carla", "communications")
    mailing = Mailing("mlg_00000000000000bb", MailPurpose.TERMS_AMENDMENT, "Terms", TEXT,
                      clerk.id, c.clock(), recipients=2)  # fmt: skip
    SqlMailingStore(c.engine).create(mailing, [people[0][0], "cus_00000000000000ff"])
    last = lambda: ledgered(c)[-1]  # noqa: E731
    with default_denied("communications to mail mailing", without="own_customer", ledger=last):
        c.mailings.sender.send(clerk, mailing.id)


def test_an_opt_out_after_composing_is_honoured_at_send(
    c: Container,
    relay: Relay,
) -> None:
    """Item 3: a new-service mailing composed before the customer opted out skips them."""
    customers(c, 3)
    clerk = staff(c, "carla", "communications")
    first = c.mailings.compose.compose(clerk, MailingDraft("new_service", "New: DNS", TEXT))
    later = c.mailings.compose.compose(clerk, MailingDraft("new_service", "New: VPN", TEXT))
    terms = c.mailings.compose.compose(clerk, MailingDraft("terms_amendment", "Terms", TEXT))
    c.mailings.sender.send(clerk, first.id)
    got = next(r.message for r in relay.recorder.received if r.rcpt_tos == ["reto2@example.com"])
    c.mailings.sender.unsubscribe(got["List-Unsubscribe"].split("token=", 1)[1].rstrip(">"))
    relay.recorder.received.clear()

    report = c.mailings.sender.send(clerk, later.id)
    assert (report.progress.sent, report.progress.refused) == (2, 1)
    assert [d.error for d in report.problems] == ["opted out"]
    assert sorted(addressed(relay)) == ["reto1@example.com", "reto3@example.com"]
    relay.recorder.received.clear()
    assert c.mailings.sender.send(clerk, terms.id).progress.sent == 3  # terms still reach them


def test_the_worker_cannot_compose_an_incident_or_new_service_mailing(c: Container) -> None:
    """Item 5: `worker-announces-policy-amendments` holds only for terms amendments."""
    people = customers(c, 1)
    last = lambda: ledgered(c)[-1]  # noqa: E731
    for draft in (
        MailingDraft("new_service", "New", TEXT),
        MailingDraft("incident", "S", TEXT, services=(people[0][1]["mailbox"],)),
    ):
        with default_denied("worker to create mailing", without="allowed_mailing_purpose",
                            ledger=last):  # fmt: skip
            c.mailings.compose.compose(WORKER, draft)
    assert c.mailings.compose.compose(WORKER, MailingDraft("terms_amendment", "T", TEXT))


class HangsUp:
    """A relay that hangs up on the second message: at `RCPT` (before any of its data went
    out) or after receiving its whole DATA, without a reply."""

    def __init__(self, at: str) -> None:
        self.at = at
        self.seen = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.seen += 1
        if self.at == "rcpt" and self.seen == 2:
            assert server.transport is not None
            server.transport.close()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.at == "data" and self.seen == 2:
            assert server.transport is not None
            server.transport.close()
        return "250 OK"


@pytest.mark.parametrize(("at", "in_flight"), [("rcpt", False), ("data", True)])
def test_only_a_message_the_relay_had_whole_is_in_flight(
    relay: Relay,
    at: str,
    in_flight: bool,
) -> None:
    """Item 4 at the port: a drop after the end of DATA went out is `in_flight` (may be
    delivered: the send leaves it unknown); a drop before it is a plain temporary failure."""
    relay.controller.handler = HangsUp(at)
    mailer = SmtpMailer(HOST, relay.port, False, None, None, SENDER, 5.0)
    batch = [Outgoing(f"kunde{i}@example.com", "Terms", TEXT, {}) for i in range(3)]
    result = mailer.send_many(batch, purpose=MailPurpose.TERMS_AMENDMENT)
    assert result.stopped is not None
    assert [h.message_id is not None for h in result.handed] == [True, False]
    assert [h.in_flight for h in result.handed] == [False, in_flight]
