"""The mailing vocabulary and the gate's two mailing conditions, without I/O: only three
purposes make a mailing (P7), transactional purposes are not among them, and the conditions
answer from the request and the registry's ids (P6)."""

from __future__ import annotations

import doctest
from collections.abc import Iterable, Sequence

import pytest

from entrusted.domain import mailings as mailings_domain
from entrusted.domain.mailings import (
    MAILING_PURPOSES,
    MailPurpose,
    check_text,
    parse_mailing_purpose,
)
from entrusted.domain.policy import Actor, ActorKind, Resource, ResourceKind, Role
from entrusted.domain.registry import SealedCustomer
from entrusted.errors import InvalidInput
from entrusted.services.gate import AccessContext
from entrusted.services.mailings import AllowedMailingPurpose, OwnCustomers

pytestmark = pytest.mark.promise("P6", "P7")

CLERK = Actor(ActorKind.STAFF, "stf_1", frozenset({Role.COMMUNICATIONS}))
MAILING = Resource(ResourceKind.MAILING, "mlg_0000000000000001")


def test_the_doctests_hold() -> None:
    assert doctest.testmod(mailings_domain).failed == 0


def test_only_three_purposes_make_a_mailing() -> None:
    assert {p.value for p in MAILING_PURPOSES} == {"incident", "new_service", "terms_amendment"}
    for word in (None, "", "security", "service_notice", "newsletter", "INCIDENT "):
        with pytest.raises(InvalidInput) as info:
            parse_mailing_purpose(word)
        assert info.value.field == "purpose"
    assert parse_mailing_purpose("new_service") is MailPurpose.NEW_SERVICE


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [("", "x", "subject"), ("a\nBcc: x", "x", "subject"), ("S", " ", "body"), ("S", "\0", "body")],
)
def test_text_must_be_a_line_and_a_body(subject: str, body: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_text(subject, body)
    assert info.value.field == field


@pytest.mark.parametrize(
    "bad", ["\u2028", "\u2029", "\u0085", "\v", "\f", "\x1c", "\x1b[31m", "\a", "\u202e", "\r"]
)
def test_a_subject_with_any_control_or_format_character_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_text(f"Outage{bad}Bcc: x", "text")
    assert info.value.field == "subject"
    assert bad not in info.value.message  # named by code point, never echoed


@pytest.mark.parametrize("bad", ["\x1b[2J", "\a", "\u0085", "\v", "\f", "\x1c"])
def test_a_body_with_control_characters_but_newline_and_tab_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_text("Outage", f"Dear customer,{bad}\n")
    assert info.value.field == "body"
    check_text("Outage \u00e4", "Line 1\n\tLine 2\r\n\u2028ok\n")  # text as people write it


def test_the_length_rule_names_its_unit() -> None:
    with pytest.raises(InvalidInput) as info:
        check_text("S" * 201, "text")
    assert "at most 200 characters" in info.value.message


class Registry:
    """Just enough of `CustomerAudience` for the own-customer condition."""

    def __init__(self, known: set[str], closed: frozenset[str] = frozenset()) -> None:
        self.known = known
        self.closed = closed

    def unknown(self, customer_ids: Iterable[str]) -> list[str]:
        return [c for c in customer_ids if c not in self.known]

    def strangers(self, customer_ids: Iterable[str]) -> list[str]:
        return [c for c in customer_ids if c not in self.known | self.closed]


class Stored:
    def recipients(self, mailing_id: str) -> list[str]:
        return ["cus_a", "cus_b"]


class Audience(Registry):
    def active(self) -> list[str]:
        return sorted(self.known)

    def opted_out(self) -> set[str]:
        return set()

    def holders_of(self, service_ids: Iterable[str]) -> dict[str, str]:
        return {}

    def sealed(self, customer_ids: Sequence[str]) -> list[SealedCustomer]:
        return []


def test_the_conditions_answer_from_the_request_and_the_registry() -> None:
    purpose = AllowedMailingPurpose()
    assert purpose(CLERK, MAILING, AccessContext(mailing_purpose="incident"))
    assert not purpose(CLERK, MAILING, AccessContext(mailing_purpose="security"))
    assert not purpose(CLERK, MAILING, AccessContext())
    own = OwnCustomers(Audience({"cus_a", "cus_b"}), Stored())  # type: ignore[arg-type]
    assert own(CLERK, MAILING, AccessContext(recipients=("cus_a",)))
    assert not own(CLERK, MAILING, AccessContext(recipients=("cus_a", "cus_x")))
    assert own(CLERK, MAILING, AccessContext())  # the stored mailing's recipients
    nobody = OwnCustomers(Audience(set()), Stored())  # type: ignore[arg-type]
    assert not nobody(CLERK, MAILING, AccessContext())


def test_a_customer_closed_since_composing_does_not_block_sending_a_stranger_does() -> None:
    """Issue 16 item 2: at send, `own_customer` asks whether the mailing was composed to our
    customers (active or closed since); the closed one's delivery is refused by the send."""
    closed = OwnCustomers(Audience({"cus_a"}, frozenset({"cus_b"})), Stored())  # type: ignore[arg-type]
    assert closed(CLERK, MAILING, AccessContext())
    assert not closed(CLERK, MAILING, AccessContext(recipients=("cus_b",)))  # composing
    stranger = OwnCustomers(Audience({"cus_a"}), Stored())  # type: ignore[arg-type]
    assert not stranger(CLERK, MAILING, AccessContext())


def test_the_worker_may_only_announce_terms_amendments() -> None:
    """Issue 16 item 5: `worker-announces-policy-amendments` holds for terms only."""
    purpose = AllowedMailingPurpose()
    worker = Actor(ActorKind.SERVICE, "worker")
    assert purpose(worker, MAILING, AccessContext(mailing_purpose="terms_amendment"))
    assert not purpose(worker, MAILING, AccessContext(mailing_purpose="incident"))
    assert not purpose(worker, MAILING, AccessContext(mailing_purpose="new_service"))
    assert purpose(CLERK, MAILING, AccessContext(mailing_purpose="new_service"))
