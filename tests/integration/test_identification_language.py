"""Identification codes in the customer's language (issue 18 extended to P1's codes): a French
customer's code mail comes through a real SMTP relay (aiosmtpd) in French, with its end in
their time zone, and the code read back from it identifies them; an Italian customer's text
message (directory transport) is in Italian. An English customer's wording is unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from entrusted.adapters.directory_transport import DirectorySms
from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor
from entrusted.domain.registry import IdentificationOutcome
from tests.conftest import FakeClock
from tests.installations import Installations
from tests.integration.mail_support import Relay, built, relay, smtp_settings
from tests.integration.test_registry_sql import staff
from tests.unit.registry_world import SIGNUP, People

pytestmark = pytest.mark.promise("P1")

CODE = re.compile(r"\b(\d{6})\b")

__all__ = ["relay"]  # the fixture, imported to be found


@pytest.fixture
def container(
    database_url: str,
    tmp_path: Path,
    relay: Relay,
    installations: Installations,
) -> Iterator[Container]:
    settings = smtp_settings(database_url, tmp_path, relay.port, staff_totp_required=False)
    installations.install(settings)
    with built(settings, FakeClock()) as c:
        yield c


def register(c: Container, seed: int, language: str, time_zone: str) -> str:
    form = replace(People(seed=seed).form(), language=language, time_zone=time_zone)
    return c.registry.register(SIGNUP, form).customer_id


def verify(c: Container, support: Actor, ident_id: str, text: str) -> None:
    found = CODE.search(text)
    assert found is not None, text
    done = c.identification.verify(support, ident_id, found.group(1))
    assert done.outcome is IdentificationOutcome.VERIFIED


def start(c: Container, seed: int, language: str, time_zone: str, method: str) -> tuple[Actor, str]:
    """A customer of `language` in `time_zone`, and support starting to identify them by
    `method`: the code goes out in the customer's words. Returns (support, identification id)."""
    customer_id = register(c, seed, language, time_zone)
    support = staff(c, "support1", "support")
    return support, c.identification.start(support, customer_id, method).id


def test_a_french_customer_gets_the_code_mail_in_french_in_their_zone(
    container: Container, relay: Relay
) -> None:
    c = container
    support, ident_id = start(c, 31, "fr", "Europe/Paris", "email_code")
    message = relay.recorder.received[-1].message
    assert message["Subject"] == "Votre code d\u2019identification"
    assert message["X-Entrusted-Purpose"] == "security"
    text = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    html = str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
    assert "Votre code d\u2019identification est " in text
    assert "expire dans 10 minutes" in text
    # The fake clock says 12:00 UTC; the code ends ten minutes later, in Paris time.
    assert "jusqu\u2019au 27 novembre 2026, 13:10 (Paris)" in text
    assert '<html lang="fr">' in html
    assert "code is" not in text + html  # no English left
    verify(c, support, ident_id, text)


def test_an_italian_customer_gets_the_code_text_in_italian(container: Container) -> None:
    c = container
    support, ident_id = start(c, 32, "it", "Europe/Rome", "sms_code")
    assert isinstance(c.sms, DirectorySms)
    text = c.sms.written()[-1].text
    assert text.startswith("Il Suo codice di identificazione è ")
    assert "scade tra 10 minuti" in text
    verify(c, support, ident_id, text)


def test_an_english_customer_keeps_the_english_wording(container: Container, relay: Relay) -> None:
    c = container
    support, ident_id = start(c, 33, "en", "America/New_York", "email_code")
    message = relay.recorder.received[-1].message
    assert message["Subject"] == "Your identification code"
    text = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "Your identification code is " in text
    assert "November 27, 2026, 07:10 (New York)" in text
    verify(c, support, ident_id, text)
