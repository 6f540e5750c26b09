"""E-mail and phone normalisation: equivalent spellings meet in one canonical form, invalid
input is refused naming the field, and no network is needed (deliverability is not checked)."""

from __future__ import annotations

import doctest
import socket

import pytest
from faker import Faker

from entrusted.adapters import contacts as contacts_adapter
from entrusted.adapters.contacts import normalise_email, normalise_phone
from entrusted.domain import contacts as contacts_domain
from entrusted.domain.contacts import canonical_email, canonical_phone
from entrusted.errors import InvalidInput

pytestmark = pytest.mark.promise("P1")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any DNS lookup or connection fails the test: validation must work offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("contact validation touched the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_docstrings_run() -> None:
    assert doctest.testmod(contacts_domain).failed == 0
    assert doctest.testmod(contacts_adapter).failed == 0


# --- e-mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("Alice@Example.COM ", "alice@example.com"),
        ("alice@example.com", "alice@example.com"),
        ("\talice.o'neil+hosting@Example.org\n", "alice.o'neil+hosting@example.org"),
        ("alice@Bücher.example", "alice@xn--bcher-kva.example"),
        ("alice@xn--bcher-kva.example", "alice@xn--bcher-kva.example"),
        ("alice@straße.example", "alice@xn--strae-oqa.example"),  # IDNA 2008, not "strasse"
        ("bob@sub.domain.example.net", "bob@sub.domain.example.net"),
    ],
)
def test_email_normalises(typed: str, canonical: str) -> None:
    assert normalise_email(typed) == canonical


@pytest.mark.parametrize(
    "value",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@@example.com",
        "alice smith@example.com",
        "alice@example",  # no dot: not a deliverable domain
        "alice@example.invalid",  # special-use name
        "alice@localhost",
        "zoë@example.com",  # internationalised local part needs SMTPUTF8
        '"quoted"@example.com',
        "alice@exa_mple.com",
        "<alice@example.com>",
        "alice@example.com\r\nBcc: eve@example.com",
        "a" * 65 + "@example.com",
    ],
)
def test_invalid_email_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_email(value, field="contact_email")
    assert info.value.field == "contact_email"
    assert str(info.value).startswith("contact_email: ")


def test_email_error_does_not_repeat_the_address() -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_email("alice.example@example.invalid")
    assert "alice.example" not in str(info.value)


def test_normalised_email_is_already_canonical() -> None:
    fake = Faker()
    Faker.seed(7)
    for _ in range(200):
        address = f"{fake.user_name()}@{fake.domain_word()}.example.com"
        normalised = normalise_email(address.upper())
        assert canonical_email(normalised) == normalised
        assert normalise_email(normalised) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "alice@bücher.example",
        "Alice@example",
        "alice..x@example.com",
        ".alice@example.com",
        "alice@-example.com",
        "alice@example..com",
        "alice@exa mple.com",
        "a@" + "b" * 64 + ".com",
    ],
)
def test_domain_canonical_form_refuses_anything_it_would_have_to_guess(value: str) -> None:
    with pytest.raises(InvalidInput):
        canonical_email(value)


def test_domain_canonical_form_folds_case_blanks_and_final_dot() -> None:
    assert canonical_email(" Alice@Example.COM. ") == "alice@example.com"


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("044 000 00 00", "CH", "+41440000000"),
        ("+41 44 000 00 00", "CH", "+41440000000"),
        ("0041 44 000 00 00", "CH", "+41440000000"),
        ("+41 (0)44 000 00 00", "CH", "+41440000000"),
        ("044-000-00-00", "CH", "+41440000000"),
        ("079 000 00 00", "CH", "+41790000000"),
        ("+41 44 000 00 00", "DE", "+41440000000"),  # an explicit country code wins
        ("(202) 555-0100", "US", "+12025550100"),
        ("020 7946 0000", "GB", "+442079460000"),
    ],
)
def test_phone_normalises_to_e164(typed: str, region: str, e164: str) -> None:
    assert normalise_phone(typed, region) == e164
    assert canonical_phone(e164) == e164


def test_phone_default_region_is_switzerland() -> None:
    assert normalise_phone("044 000 00 00") == "+41440000000"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "12",
        "abc",
        "044 000 00",  # too short for a Swiss number
        "+41 44 000 00 00 00 00",
        "+999 123 456",  # no such country code
        "+41 44 000 00 00 ext. 12",  # E.164 cannot carry the extension
        "1" * 300,
    ],
)
def test_invalid_phone_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_phone(value, field="mobile")
    assert info.value.field == "mobile"


def test_mobile_only_refuses_a_fixed_line() -> None:
    assert normalise_phone("079 000 00 00", mobile=True) == "+41790000000"
    with pytest.raises(InvalidInput, match="not a mobile number") as info:
        normalise_phone("044 000 00 00", field="mobile", mobile=True)
    assert info.value.field == "mobile"


def test_unknown_default_region_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_phone("044 000 00 00", "XX")
    assert info.value.field == "default region"


@pytest.mark.parametrize(
    "value",
    ["+41 44 000 00 00", "0041440000000", "+041440000000", "41440000000", "+1234567890123456"],
)
def test_domain_phone_accepts_only_e164(value: str) -> None:
    with pytest.raises(InvalidInput):
        canonical_phone(value)
