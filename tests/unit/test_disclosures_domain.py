"""The disclosure desk's pure rules (P5): which courts are Swiss, when an order may be acted
on, and what exceeds its scope."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from entrusted.domain.disclosures import (
    CANTONS,
    CourtOrder,
    DataCategory,
    categories_of,
    court_problem,
    order_problem,
    scope_problem,
)

pytestmark = pytest.mark.promise("P5")

ORDER = CourtOrder(
    "cor_0000000000000001", "CH-BE", "BK 26 1", date(2026, 11, 1), date(2026, 11, 30),
    ("cus_0000000000000001",), frozenset({DataCategory.CONTRACTS}), "0" * 64,
    date(2026, 12, 15), "stf_1", datetime(2026, 11, 2, tzinfo=UTC),
)


def test_the_26_cantons_and_the_federal_courts_are_swiss_and_nothing_else() -> None:
    assert len(CANTONS) == 26
    for code in [*CANTONS, "BGer", "BStGer", "BVGer", "BPatGer"]:
        assert court_problem(f"CH-{code}") is None
    for court in ["CH-XX", "ch-zh", "ZH", "DE-BGH", "CH-", "CH-BGE", "AT-OGH", "CH-ZH "]:
        assert court_problem(court) is not None, court


def test_an_order_is_acted_on_only_between_its_dates() -> None:
    assert order_problem(ORDER, date(2026, 11, 30)) is None
    assert "expired on 2026-11-30" in (order_problem(ORDER, date(2026, 12, 1)) or "")
    assert "in the future" in (order_problem(ORDER, date(2026, 10, 31)) or "")
    assert ORDER.notice_forbidden_on(date(2026, 12, 14))
    assert not ORDER.notice_forbidden_on(date(2026, 12, 15))


def test_scope_names_what_exceeds_the_order() -> None:
    covered = ["cus_0000000000000001"]
    assert scope_problem(ORDER, covered, {DataCategory.CONTRACTS}) is None
    assert "cus_0000000000000002" in (
        scope_problem(ORDER, [*covered, "cus_0000000000000002"], set()) or ""
    )
    assert "personal_details" in (
        scope_problem(ORDER, covered, {DataCategory.PERSONAL_DETAILS}) or ""
    )
    with pytest.raises(ValueError, match="mailbox_content"):
        categories_of(["mailbox_content"])
