"""Provisioning sync as values (issue 17, P1): what the hoster's provisioning system sends,
keyed by its own ids, and what came of each item.

Why the hoster's ids: the provisioning system calls on every change and cannot keep our ids;
an upsert by its own customer, contract and service numbers makes each call idempotent (the
same call twice changes nothing the second time and says so).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from entrusted.domain.registry import PersonalDetails, ServiceKind
from entrusted.errors import InvalidInput

MAX_EXTERNAL_ID = 64
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)
# The hoster's word for a kind, where it differs from ours.
_KIND_ALIASES = {"web_site": ServiceKind.WEBSITE}


class Entity(StrEnum):
    CUSTOMER = "customer"
    CONTRACT = "contract"
    SERVICE = "service"


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # changed in place: details corrected, a service renamed
    UNCHANGED = "unchanged"  # already as sent: nothing written, no outcome entry
    REMOVED = "removed"  # a service removed, a contract cancelled


@dataclass(frozen=True, slots=True)
class Applied:
    """What came of one item: our id for the hoster's `external_id`, and the change."""

    entity: Entity
    external_id: str
    id: str
    change: Change


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Every item's result, in the order sent; `dry_run` when nothing was written."""

    rows: tuple[Applied, ...]
    dry_run: bool = False

    def counts(self) -> dict[Change, int]:
        seen = Counter(r.change for r in self.rows)
        return {change: seen[change] for change in Change}


# What the provisioning system sends, checked (`services/provisioning_forms.py`): one item
# each, keyed by the hoster's ids; the planner (`services/provisioning_plan.py`) applies them.


@dataclass(frozen=True, slots=True)
class CustomerItem:
    """`language` and `time_zone` as the hoster sent them, validated; None: not sent, so the
    stored ones stay (a record that leaves them out never undoes a customer's own choice)."""

    number: str
    details: PersonalDetails
    language: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class ContractItem:
    number: str
    customer: str  # the holder's customer number


@dataclass(frozen=True, slots=True)
class ServiceItem:
    contract: str
    number: str
    kind: ServiceKind
    name: str


@dataclass(frozen=True, slots=True)
class ServiceRemoval:
    contract: str
    number: str


@dataclass(frozen=True, slots=True)
class ContractCancellation:
    number: str


Item = CustomerItem | ContractItem | ServiceItem | ServiceRemoval | ContractCancellation


def clean_external_id(value: str, field: str) -> str:
    """One of the hoster's ids: 1-64 letters, digits, `._:-`, starting with a letter or digit
    (so it can stand in a URL path and never carries an address or a name's spaces)."""
    text = value.strip()
    if not _EXTERNAL_ID.fullmatch(text):
        raise InvalidInput(
            field, f"must be 1-{MAX_EXTERNAL_ID} letters, digits, '.', '_', ':' or '-'"
        )
    return text


def parse_kind(value: str, field: str) -> ServiceKind:
    """A service kind as the hoster names it: mailbox, ftp_space, web_site (or website),
    domain."""
    text = value.strip().lower()
    if text in _KIND_ALIASES:
        return _KIND_ALIASES[text]
    try:
        return ServiceKind(text)
    except ValueError:
        raise InvalidInput(field, "must be one of mailbox, ftp_space, web_site, domain") from None
