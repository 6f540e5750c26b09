"""Mails in the customer's language and time zone (issue 18), through a real SMTP relay
(aiosmtpd), on SQLite and PostgreSQL: a customer who chose French and New York gets the access
request and the "you allowed support" notice in French, with times in New York's zone, as
multipart/alternative (plain text, then HTML), from the configured sender and provider, naming
the staff member by display name; the customer's own correction changes the language, and a
bad language or zone is refused, naming the field, with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from entrusted.adapters.mail_templates import when
from entrusted.bootstrap import Container, initialise
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.errors import InvalidInput
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.conftest import FakeClock
from tests.integration.mail_support import Relay, built, relay, smtp_settings
from tests.integration.test_smtp_adapter import SENDER
from tests.unit.registry_world import SIGNUP, customer

PROVIDER = "Hébergement Exemple SA"
NEW_YORK = ZoneInfo("America/New_York")
ASKED = "Le support demande l\u2019accès à votre boîte aux lettres"
GRANTED = "Vous avez autorisé le support à accéder à votre boîte aux lettres"
WHY = "Le webmail affiche une erreur pour cette boîte."

__all__ = ["relay"]  # the fixture, imported to be found


@pytest.fixture
def c(database_url: str, tmp_path: Path, relay: Relay) -> Iterator[Container]:
    settings = smtp_settings(
        database_url,
        tmp_path,
        relay.port,
        staff_totp_required=False,
        provider_name=PROVIDER,
        portal_url="https://portal.example.com",
    )
    initialise(settings)
    with built(settings, FakeClock()) as container:
        yield container


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain text and the HTML of a multipart/alternative message, in that order."""
    assert message.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]  # the preferred part comes last (RFC 2046)
    text, html = (str(p.get_content()) for p in message.iter_parts())
    return text, html


def local(at: datetime) -> str:
    return when(at, NEW_YORK, "fr")


def register_fr(c: Container) -> tuple[str, str, str]:
    form = Registration(
        "Muster", "Léa", "lea.muster@example.com", None, None,
        (ServiceRequest("mailbox", "lea@example.org"),),
        language="fr", time_zone="America/New_York",
    )  # fmt: skip
    done = c.registry.register(SIGNUP, form)
    assert done.contract_id is not None
    with c.uow() as uow:
        contract = uow.contracts.get(done.contract_id)  # type: ignore[attr-defined]
    return done.customer_id, done.contract_id, contract.services[0].id


def test_a_french_customer_in_new_york_reads_french_mails_with_local_times(
    c: Container, relay: Relay
) -> None:
    member = c.staff.add("sam", "Sam Muster", ["support"], "correct horse battery staple 42")
    support = Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT}))
    cus, ctr, mailbox = register_fr(c)
    case = c.cases.open(support, ctr, "Webmail")
    request = c.consent.request(support, case.id, mailbox, WHY)

    asked = relay.recorder.received[-1]
    assert asked.rcpt_tos == ["lea.muster@example.com"]
    assert asked.message["From"] == SENDER
    assert asked.message["Subject"] == ASKED
    text, html = parts(asked.message)
    assert "Notre équipe de support vous demande votre autorisation" in text
    assert f"la demande expire le {local(request.expires_at)}" in text
    # The fake clock's 28 November 00:00 UTC is the evening before, in New York
    assert local(request.expires_at) == "27 novembre 2026, 19:00 (New York)"
    assert "Demande faite par Sam Muster." in text
    assert member.id not in text
    token = text.split("#token=")[1].split()[0]
    assert f"https://portal.example.com/access-requests/{request.id}#token={token}" in html
    assert '<html lang="fr">' in html
    assert PROVIDER in html
    assert PROVIDER in text
    assert WHY in text
    assert WHY in html

    grant = c.consent.approve(customer(cus), request.id, token)
    assert c.outbox.deliver().failed == 0
    granted = next(r.message for r in relay.recorder.received if r.message["Subject"] == GRANTED)
    text, html = parts(granted)
    assert "Vous avez accordé à Sam Muster un accès à votre boîte aux lettres lea@" in text
    assert f"au plus tard le {local(grant.expires_at)}" in text
    assert f"(autorisation {grant.id})" in html
    assert member.id not in html
    subjects = [r.message["Subject"] for r in relay.recorder.received]
    assert "Définissez votre mot de passe" in subjects  # the registration's password link


def test_the_customer_changes_their_language_and_bad_values_are_refused(c: Container) -> None:
    cus, _, _ = register_fr(c)
    me = customer(cus)
    record = c.registry.correct(me, cus, {"language": "de", "time_zone": "Europe/Zurich"})
    assert (record.language, record.time_zone) == ("de", "Europe/Zurich")
    for changes, field in (
        ({"language": "xx"}, "language"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"language": "it", "time_zone": "../etc/passwd"}, "time_zone"),
    ):
        with pytest.raises(InvalidInput) as refused:
            c.registry.correct(me, cus, changes)
        assert refused.value.field == field
    record = c.registry.details(me, cus)
    assert (record.language, record.time_zone) == ("de", "Europe/Zurich")  # nothing written
    record = c.registry.correct(me, cus, {"language": None})
    assert record.language is None  # back to the default (settings.default_language)
