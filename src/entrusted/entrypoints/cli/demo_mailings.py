"""The demo's mailings step (P6, P7): communications sends an incident notice to exactly the
holder of the affected mailbox, a new-service mailing with its one-click unsubscribe (which a
customer uses), the terms-amendment announcement of the policy step is sent by the worker's
job; a sponsored mailing, an unknown purpose and support are refused, each in the ledger."""

from __future__ import annotations

from faker import Faker

from entrusted.bootstrap import Container
from entrusted.domain.mailings import PURPOSE_HEADER
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_messages import mails
from entrusted.entrypoints.cli.demo_registry import SIGNUP, _person, _staff, _try
from entrusted.services.mailings import MailingDraft
from entrusted.services.registry_forms import ServiceRequest

INCIDENT = "Your mailbox was unreachable from 09:10 to 09:25 UTC today. No mail was lost.\n"
NEW = "We now host DNS zones for every domain on your contract, at no extra cost.\n"


def mailings_step(c: Container, fake: Faker) -> None:
    holder = c.registry.register(
        SIGNUP, _person(fake, 7, (ServiceRequest("mailbox", "shop@example.net"),))
    )
    assert holder.contract_id is not None
    contract = c.contracts.get(Actor(ActorKind.CUSTOMER, holder.customer_id), holder.contract_id)
    mailbox = contract.services[0].id
    name, comms = _staff(c, "comms")
    for job in (j for j in c.jobs if j.name == "mailings.send"):
        console.print(f"  worker job {job.name}: {job.run()}", highlight=False)
    incident = c.mailings.compose.compose(
        comms, MailingDraft("incident", "Mailbox outage this morning", INCIDENT, (mailbox,))
    )
    sent = c.mailings.sender.send(comms, incident.id)
    console.print(
        f"  {name} sent incident {incident.id} about {mailbox}: {sent.progress.sent} recipient "
        f"(exactly the holder, {holder.customer_id})",
        highlight=False,
    )
    news = c.mailings.compose.compose(comms, MailingDraft("new_service", "New: DNS", NEW))
    report = c.mailings.sender.send(comms, news.id)
    last = mails(c)[-1]
    console.print(
        f"  new_service {news.id}: {report.progress.sent} sent; each message carries "
        f"{PURPOSE_HEADER}: {last.headers.get(PURPOSE_HEADER)}, Feedback-ID and "
        "List-Unsubscribe (one click, RFC 8058)",
        highlight=False,
    )
    token = last.headers["List-Unsubscribe"].split("token=", 1)[1].rstrip(">")
    c.mailings.sender.unsubscribe(token)
    again = c.mailings.compose.compose(comms, MailingDraft("new_service", "New: DNS", NEW))
    console.print(
        f"  one customer unsubscribed; the next new_service mailing reaches {again.recipients} "
        f"of {news.recipients}",
        highlight=False,
    )
    sponsored = MailingDraft("new_service", "Partner offer", NEW, third_party={"sponsor": "X"})
    _try("a sponsored mailing", lambda: c.mailings.compose.compose(comms, sponsored))
    _try(
        "a 'newsletter' mailing",
        lambda: c.mailings.compose.compose(comms, MailingDraft("newsletter", "News", NEW)),
    )
    _, support = _staff(c, "support")
    terms = MailingDraft("terms_amendment", "Terms", NEW)
    _try("support composes a mailing", lambda: c.mailings.compose.compose(support, terms))
