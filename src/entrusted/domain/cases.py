"""Support cases and consent as values (P9, P10, P11).

A support case is opened for one contract, by support or by its holder, and is the scope of
every consent: a grant names exactly one staff member, one hosted resource (a mailbox or an
FTP space of the case's contract) and one case, and ends at the earliest of the case being
resolved, the customer revoking it, its sessions being spent, its backstop duration, or the
contract being transferred or cancelled. A resolved case never reopens: reopening opens a
new case (`reopened_from`), a new consent scope, so no grant ever revives.

Consent comes from one of two places: an access request the authenticated contract holder
approves through a single-use link, or verbal consent an agent records on the phone after
identifying the caller. Either way the human who consented is named (`approved_by`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.domain.registry import ServiceKind
from entrusted.errors import InvalidInput

MAX_SUBJECT = 200
MIN_JUSTIFICATION = 10
MAX_JUSTIFICATION = 500

# What a grant opens, by the kind of hosted service it names (websites are public: no grant).
RESOURCE_OF: dict[ServiceKind, ResourceKind] = {
    ServiceKind.MAILBOX: ResourceKind.MAILBOX_CONTENT,
    ServiceKind.FTP_SPACE: ResourceKind.FTP_SPACE,
}
# The one action a grant lets its staff member take on it, as the shipped rules word it.
ACTION_ON: dict[ResourceKind, Action] = {
    ResourceKind.MAILBOX_CONTENT: Action.READ,
    ResourceKind.FTP_SPACE: Action.ENTER,
}


class CaseStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"  # unanswered past its expiry (derived when read, stored by the job)
    WITHDRAWN = "withdrawn"  # its case was resolved or its contract changed hands first


class GrantOrigin(StrEnum):
    REQUEST = "request"  # the holder approved an access request
    VERBAL = "verbal"  # an agent recorded the identified caller's verbal consent


class GrantEnd(StrEnum):
    CASE_RESOLVED = "case_resolved"
    REVOKED = "revoked"  # the customer withdrew it
    NOT_ME = "not_me"  # the customer said the recorded verbal consent was not theirs
    USED = "used"  # every session it allowed has been opened and closed
    EXPIRED = "expired"  # the backstop duration passed
    TRANSFERRED = "contract_transferred"
    CANCELLED = "contract_cancelled"
    STAFF_DISABLED = "staff_disabled"  # the staff member named in it was disabled
    ROLE_REMOVED = "staff_role_removed"  # a role was taken from the staff member named in it
    SERVICE_REMOVED = "service_removed"  # provisioning removed the mailbox or FTP space


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    customer_id: str
    contract_id: str
    subject: str
    status: CaseStatus
    opened_at: datetime
    opened_by: str
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    reopened_from: str | None = None
    flagged_at: datetime | None = None  # a customer said a consent on it was not theirs
    flag_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.status is CaseStatus.OPEN

    def resource(self) -> Resource:
        return Resource(ResourceKind.CASE, self.id, owner=self.customer_id)


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """A staff member asks the contract holder for one resource, for one case."""

    id: str
    case_id: str
    customer_id: str
    contract_id: str
    service_id: str
    service_kind: ServiceKind
    staff_id: str
    justification: str
    read_only: bool
    sessions: int
    status: RequestStatus
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None = None
    answered_by: str | None = None
    grant_id: str | None = None

    def state_at(self, now: datetime) -> RequestStatus:
        if self.status is RequestStatus.PENDING and now >= self.expires_at:
            return RequestStatus.EXPIRED
        return self.status


@dataclass(frozen=True, slots=True)
class VerbalConsent:
    """Consent given on the phone: who took it, how the caller was identified, the scope
    read back to them, when; `not_me_at` is set if the customer disowned it."""

    id: str
    case_id: str
    customer_id: str
    staff_id: str
    identification_id: str
    identification_method: str
    scope: str
    recorded_at: datetime
    grant_id: str
    not_me_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """Consent as the gate sees it: one staff member, one resource, one case."""

    id: str
    case_id: str
    customer_id: str
    contract_id: str
    service_id: str
    service_kind: ServiceKind
    staff_id: str
    read_only: bool
    max_sessions: int
    origin: GrantOrigin
    source_id: str  # the access request or the verbal consent it came from
    approved_by: str  # the customer who consented, by id: a person, never a service account
    created_at: datetime
    expires_at: datetime
    sessions_used: int = 0
    first_used_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: GrantEnd | None = None
    ended_by: str | None = None
    policy_version: int | None = None  # the public policy document in force at consent (P17)

    @property
    def resource_kind(self) -> ResourceKind:
        return RESOURCE_OF[self.service_kind]

    @property
    def action(self) -> Action:
        return ACTION_ON[self.resource_kind]

    def resource(self) -> Resource:
        """The resource the grant opens, as the gate is asked about it."""
        return Resource(self.resource_kind, self.service_id, owner=self.customer_id)

    def active_at(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at

    @property
    def spent(self) -> bool:
        return self.sessions_used >= self.max_sessions


@dataclass(frozen=True, slots=True)
class GrantSession:
    """One login under a grant (an IMAP session, an FTP connection)."""

    id: str
    grant_id: str
    staff_id: str
    started_at: datetime
    ended_at: datetime | None = None


def _clean_text(value: str, field: str, low: int, high: int) -> str:
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if len(text) < low:
        raise InvalidInput(field, f"needs at least {low} characters")
    if len(text) > high:
        raise InvalidInput(field, f"is longer than {high} characters")
    if any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise InvalidInput(field, "contains control characters")
    return text


def clean_subject(value: str) -> str:
    """A case subject on one line, 1-200 characters."""
    return _clean_text(value, "subject", 1, MAX_SUBJECT)


def clean_justification(value: str) -> str:
    """Why staff need the access, shown to the customer: 10-500 characters on one line."""
    return _clean_text(value, "justification", MIN_JUSTIFICATION, MAX_JUSTIFICATION)


def check_sessions(sessions: int, limit: int) -> int:
    if not 1 <= sessions <= limit:
        raise InvalidInput("sessions", f"must be between 1 and {limit}")
    return sessions


def latest_end(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def scope_text(
    kind: ServiceKind, name: str, read_only: bool, sessions: int, case_id: str, until: str
) -> str:
    """The consent in words: what an agent reads back on the phone, and what the customer's
    e-mail repeats. Generated from the scope itself, so the words and the grant agree;
    `until` says when it ends at the latest (`latest_end`, or "8 hours after approval")."""
    what = "your mailbox" if kind is ServiceKind.MAILBOX else "your FTP backup space"
    mode = "read-only access to" if read_only else "access to"
    count = "one session" if sessions == 1 else f"{sessions} sessions"
    return (
        f"{mode} {what} {name}, for support case {case_id} only, for {count}, ending when "
        f"the case is resolved and at the latest {until}"
    )
