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
from aiosmtpd.controller import Controller

from entrusted.adapters.directory_transport import DirectorySms
from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.domain.policy import Actor
from entrusted.domain.registry import IdentificationOutcome
from tests.conftest import FakeClock
from tests.installations import Installations
from tests.integration.test_registry_sql import staff
from tests.integration.test_smtp_adapter import HOST, SENDER, Recorder, free_port
from tests.unit.registry_world import SIGNUP, People

pytestmark = pytest.mark.promise("P1")

CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def relay() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname=HOST, port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture
def container(
    database_url: str,
    tmp_path: Path,
    relay: tuple[Recorder, int],
    installations: Installations,
) -> Iterator[Container]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        staff_totp_required=False,
        smtp_host=HOST,
        smtp_port=relay[1],
        smtp_starttls=False,
        smtp_sender=SENDER,
        sms_transport="directory",
    )
    installations.install(settings)
    c = build(settings, clock=FakeClock())
    try:
        yield c
    finally:
        c.close()


def register(c: Container, seed: int, language: str, time_zone: str) -> str:
    form = replace(People(seed=seed).form(), language=language, time_zone=time_zone)
    return c.registry.register(SIGNUP, form).customer_id


def verify(c: Container, support: Actor, ident_id: str, text: str) -> None:
    found = CODE.search(text)
    assert found is not None, text
    done = c.identification.verify(support, ident_id, found.group(1))
    assert done.outcome is IdentificationOutcome.VERIFIED


def test_a_french_customer_gets_the_code_mail_in_french_in_their_zone(
    container: Container, relay: tuple[Recorder, int]
) -> None:
    recorder, _ = relay
    c = container
    customer_id = register(c, 31, "fr", "Europe/Paris")
    support = staff(c, "support1", "support")
    started = c.identification.start(support, customer_id, "email_code")
    message = recorder.received[-1].message
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
    verify(c, support, started.id, text)


def test_an_italian_customer_gets_the_code_text_in_italian(container: Container) -> None:
    c = container
    customer_id = register(c, 32, "it", "Europe/Rome")
    support = staff(c, "support1", "support")
    started = c.identification.start(support, customer_id, "sms_code")
    assert isinstance(c.sms, DirectorySms)
    text = c.sms.written()[-1].text
    assert text.startswith("Il Suo codice di identificazione è ")
    assert "scade tra 10 minuti" in text
    verify(c, support, started.id, text)


def test_an_english_customer_keeps_the_english_wording(
    container: Container, relay: tuple[Recorder, int]
) -> None:
    recorder, _ = relay
    c = container
    customer_id = register(c, 33, "en", "America/New_York")
    support = staff(c, "support1", "support")
    started = c.identification.start(support, customer_id, "email_code")
    message = recorder.received[-1].message
    assert message["Subject"] == "Your identification code"
    text = str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "Your identification code is " in text
    assert "November 27, 2026, 07:10 (New York)" in text
    verify(c, support, started.id, text)
