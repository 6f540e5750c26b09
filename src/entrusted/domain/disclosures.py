"""The disclosure desk's vocabulary (P4, P5): third-party requests, Swiss court orders and the
disclosures made under them. Pure: today's date comes in as an argument.

Why so strict about the court: P5 admits exactly one reason to pass details on, a *Swiss*
court order. An order is valid only from a court this module names: the Federal Supreme Court
(`CH-BGer`), another federal court (`CH-BStGer`, `CH-BVGer`, `CH-BPatGer`), or a cantonal
court by its canton's code (`CH-ZH`, `CH-VD`, ... the 26 of them). Anything else is an order
from outside Switzerland, refused with that reason.

    >>> court_problem("CH-BGer") is None and court_problem("CH-ZH") is None
    True
    >>> court_problem("DE-BGH")
    'DE-BGH is not a Swiss court: only orders of a Swiss court are followed (P5)'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

FEDERAL_COURTS = frozenset({"BGer", "BStGer", "BVGer", "BPatGer"})
CANTONS = frozenset(
    "AG AI AR BE BL BS FR GE GL GR JU LU NE NW OW SG SH SO SZ TG TI UR VD VS ZG ZH".split()  # noqa: SIM905 - the 26 codes read best as one line
)
SWISS_PREFIX = "CH-"
MAX_CUSTOMERS = 100  # an order names individual customers; a list this long is a bulk export
MAX_TEXT = 500
_CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/\-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DataCategory(StrEnum):
    """What an order may cover: the sections of the customer's own data export."""

    PERSONAL_DETAILS = "personal_details"
    CONTRACTS = "contracts"
    IDENTIFICATIONS = "identifications"
    TRANSFERS = "transfers"


class DisclosureStatus(StrEnum):
    PENDING = "pending"  # proposed by the legal officer, waiting for the second approver
    APPROVED = "approved"  # approved; the export may be produced, once
    DISCLOSED = "disclosed"  # the export left; evidence only from here on


class NoticeState(StrEnum):
    """The customer's notice of a disclosure (P5: they learn of it unless the order forbids)."""

    QUEUED = "queued"  # in the outbox
    DEFERRED = "deferred"  # the order forbids it until `notice_after`
    NONE = "none"  # nothing disclosed yet


_CANONICAL = {f"{SWISS_PREFIX}{c}".upper(): f"{SWISS_PREFIX}{c}" for c in FEDERAL_COURTS | CANTONS}
# How far an order reaches: issued since 1900, valid (and its notice deferred) at most about
# ten years from the day it was issued; beyond that a date is a typing error, not an order.
EARLIEST_ISSUED = date(1900, 1, 1)
MAX_ORDER_SPAN_DAYS = 3653


def canonical_court(court: str) -> str:
    """The court code as this module spells it, whatever the case and surrounding spaces
    (`ch-zh ` is `CH-ZH`, `ch-bger` is `CH-BGer`); an unknown code comes back trimmed."""
    trimmed = court.strip()
    return _CANONICAL.get(trimmed.upper(), trimmed)


def court_problem(court: str) -> str | None:
    """Why `court` is no Swiss court this desk follows, or None when it is one."""
    code = court.removeprefix(SWISS_PREFIX)
    if court.startswith(SWISS_PREFIX) and (code in FEDERAL_COURTS or code in CANTONS):
        return None
    return f"{court[:40]} is not a Swiss court: only orders of a Swiss court are followed (P5)"


def court_level(court: str) -> str:
    """`federal` or `cantonal`, for display (call only on a court `court_problem` accepts)."""
    return "federal" if court.removeprefix(SWISS_PREFIX) in FEDERAL_COURTS else "cantonal"


def case_number_problem(number: str) -> str | None:
    if _CASE_NUMBER.fullmatch(number) is None:
        return "is 1-64 letters, digits, spaces or . _ / - (like 1B_123/2026)"
    return None


def sha256_problem(value: str) -> str | None:
    return None if _SHA256.fullmatch(value) is not None else "is 64 lowercase hex digits"


def categories_of(values: Iterable[str]) -> frozenset[DataCategory]:
    """The categories named; ValueError naming an unknown one."""
    out = set()
    for v in values:
        try:
            out.add(DataCategory(v))
        except ValueError:
            known = ", ".join(c.value for c in DataCategory)
            raise ValueError(f"unknown data category {v[:40]!r} (known: {known})") from None
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class ThirdPartyRequest:
    """A request from outside (police, an authority, a lawyer) as legal recorded it, with the
    answer it got. The texts are the requester's, kept for the file; the ledger holds only
    the id."""

    id: str
    requester: str
    authority: str
    asked: str
    legal_basis: str
    customer_ids: tuple[str, ...]
    recorded_by: str
    received_at: datetime
    answer: str


@dataclass(frozen=True, slots=True)
class CourtOrder:
    """A registered Swiss court order. `notice_after`: the customer may not be told of a
    disclosure before that day (None: they are told at once)."""

    id: str
    court: str
    case_number: str
    issued_on: date
    valid_until: date
    customer_ids: tuple[str, ...]
    categories: frozenset[DataCategory]
    document_sha256: str
    notice_after: date | None
    registered_by: str
    registered_at: datetime
    request_id: str | None = None

    def expired_on(self, today: date) -> bool:
        return today > self.valid_until

    def in_force_on(self, today: date) -> bool:
        return self.issued_on <= today <= self.valid_until and court_problem(self.court) is None

    def covers(self, customer_id: str) -> bool:
        return customer_id in self.customer_ids

    def notice_forbidden_on(self, today: date) -> bool:
        return self.notice_after is not None and today < self.notice_after


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosure under an order: proposed by one legal officer, approved by another."""

    id: str
    order_id: str
    customer_ids: tuple[str, ...]
    categories: frozenset[DataCategory]
    requested_by: str
    requested_at: datetime
    status: DisclosureStatus = DisclosureStatus.PENDING
    approved_by: str | None = None
    approved_at: datetime | None = None
    disclosed_at: datetime | None = None
    notice: NoticeState = NoticeState.NONE
    notice_after: date | None = None


def order_problem(order: CourtOrder, today: date) -> str | None:
    """Why a disclosure may not rest on `order` today, or None."""
    if (problem := court_problem(order.court)) is not None:
        return problem
    if order.expired_on(today):
        return f"court order {order.id} expired on {order.valid_until.isoformat()}"
    if today < order.issued_on:
        return f"court order {order.id} is dated {order.issued_on.isoformat()}, in the future"
    return None


def scope_problem(
    order: CourtOrder, customer_ids: Iterable[str], categories: Iterable[DataCategory]
) -> str | None:
    """Why a disclosure of `categories` about `customer_ids` exceeds `order`, or None."""
    others = sorted(set(customer_ids) - set(order.customer_ids))
    if others:
        return f"court order {order.id} does not name customer(s) {', '.join(others[:5])}"
    extra = sorted(c.value for c in set(categories) - order.categories)
    if extra:
        return f"court order {order.id} does not cover {', '.join(extra)}"
    return None
