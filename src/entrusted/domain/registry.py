"""The customer registry as values (P1, P2): customers, contracts, hosted services, transfers
and caller identifications.

Personal details exist in clear only as a `PersonalDetails` value inside one request; what is
stored is a `SealedCustomer` (ciphertexts, blind indexes and the wrapped data key, see
`crypto/envelope.py` and `crypto/blind_index.py`), which repositories hand back as it is.

Contact fields arrive here already normalised (`adapters.contacts`); this module checks the
rest of what a person types: names, hosted service names, and the shape of the values that
move between layers.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.staff import ServiceName
from entrusted.errors import InvalidInput

MAX_NAME = 100
MAX_SERVICES = 50
CLI_OPERATOR_PREFIX = "cli:"  # a service actor whose id starts so is an operator at the console
_HOST_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_FTP_NAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,63}", re.ASCII)
PERSONAL_FIELDS = ("last_name", "first_name", "phone", "mobile", "email")
# How the customer is written to (issue 18): plain columns, not personal data; None = default.
PREFERENCE_FIELDS = ("language", "time_zone")
LANGUAGES = ("en", "fr", "de", "it")
# One wording for a hosted name taken, wherever it is found (planning, the SQL stores, memory).
ALREADY_HOSTED = "a mailbox, FTP space or domain with this name is already hosted"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"  # no login; the record is kept for contracts and their history


class ContractStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class ServiceKind(StrEnum):
    MAILBOX = "mailbox"
    FTP_SPACE = "ftp_space"
    WEBSITE = "website"
    DOMAIN = "domain"  # a registered domain name (issue 17): no content, found by its index


class IdentificationMethod(StrEnum):
    EMAIL_CODE = "email_code"  # a one-time code sent to the e-mail address on file
    SMS_CODE = "sms_code"  # a one-time code sent to the mobile number on file
    SESSION = "session"  # the customer confirms from a logged-in session


class IdentificationOutcome(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"  # attempts exhausted
    EXPIRED = "expired"  # derived when read: pending past its expiry


@dataclass(frozen=True, slots=True)
class PersonalDetails:
    """What identifies a contract holder, in clear. Only ever built for one request."""

    last_name: str
    first_name: str
    email: str
    phone: str | None = None
    mobile: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in PERSONAL_FIELDS}

    def corrected(self, values: Mapping[str, str | None]) -> PersonalDetails:
        """These details with `values` (already validated) put in place."""
        merged = {**self.as_dict(), **values}
        last, first, email = merged["last_name"], merged["first_name"], merged["email"]
        if not (last and first and email):
            raise InvalidInput("changes", "names and the e-mail address cannot be removed")
        return PersonalDetails(last, first, email, merged["phone"], merged["mobile"])


@dataclass(frozen=True, slots=True)
class SealedCustomer:
    """A customer as stored: every personal field is a ciphertext under the customer's data
    key, which is stored wrapped by the master key named by `kek_id`."""

    id: str
    status: CustomerStatus
    created_at: datetime
    kek_id: str
    wrapped_key: bytes
    last_name: bytes
    first_name: bytes
    email: bytes
    email_idx: bytes
    phone: bytes | None = None
    phone_idx: bytes | None = None
    mobile: bytes | None = None
    mobile_idx: bytes | None = None
    language: str | None = None  # en, fr, de or it; None: the setting default_language
    time_zone: str | None = None  # an IANA name; None: the setting default_time_zone


@dataclass(frozen=True, slots=True)
class StoredService:
    """A hosted service; its name (a mailbox address, a site, an FTP account) is encrypted under
    the holder's data key, and a mailbox address also has a blind index."""

    id: str
    contract_id: str
    kind: ServiceKind
    name: bytes
    name_idx: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredContract:
    id: str
    holder_id: str
    status: ContractStatus
    created_at: datetime
    cancelled_at: datetime | None = None
    services: tuple[StoredService, ...] = ()


@dataclass(frozen=True, slots=True)
class Transfer:
    """One handover of a contract, with the ledger entry that recorded it."""

    id: str
    contract_id: str
    from_customer: str
    to_customer: str
    at: datetime
    by: str
    ledger_index: int


@dataclass(frozen=True, slots=True)
class Identification:
    """One attempt to identify a caller as a customer, and how it ended."""

    id: str
    customer_id: str
    method: IdentificationMethod
    created_at: datetime
    expires_at: datetime
    outcome: IdentificationOutcome
    attempts: int = 0
    staff_id: str | None = None
    contract_id: str | None = None
    case_id: str | None = None
    completed_at: datetime | None = None

    def state_at(self, now: datetime) -> IdentificationOutcome:
        """The outcome as of `now`: a pending identification past its expiry has expired."""
        if self.outcome is IdentificationOutcome.PENDING and now >= self.expires_at:
            return IdentificationOutcome.EXPIRED
        return self.outcome


@dataclass(frozen=True, slots=True)
class CustomerSession:
    """A customer's bearer token, stored as its SHA-256 only (like staff tokens)."""

    id: str
    customer_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class HostedService:
    """A hosted service in clear, for its holder or support's contract summary."""

    id: str
    kind: ServiceKind
    name: str


@dataclass(frozen=True, slots=True)
class ContractView:
    id: str
    holder_id: str
    status: ContractStatus
    created_at: datetime
    cancelled_at: datetime | None
    services: tuple[HostedService, ...]


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """What support sees to identify a caller: the name and the contracts, nothing else."""

    id: str
    last_name: str
    first_name: str
    contracts: tuple[ContractView, ...]


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """The whole record, for the customer themselves."""

    id: str
    status: CustomerStatus
    created_at: datetime
    details: PersonalDetails
    language: str | None = None
    time_zone: str | None = None


def clean_language(value: str, field: str = "language") -> str:
    """One of the languages customers are written in (`LANGUAGES`), lower case."""
    text = value.strip().lower()
    if text not in LANGUAGES:
        raise InvalidInput(field, f"must be one of {', '.join(LANGUAGES)}")
    return text


def clean_time_zone(value: str, field: str = "time_zone") -> str:
    """An IANA time zone name the system's zone database knows (`Europe/Zurich`)."""
    text = value.strip()
    if not 0 < len(text) <= 64 or text.startswith(("/", ".")) or ".." in text:
        raise InvalidInput(field, "is not an IANA time zone name")
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"{text!r} is not a known IANA time zone") from None
    return text


def clean_name(value: str, field: str) -> str:
    """A person's name as typed, trimmed: 1-100 printable characters, no control characters.
    Unicode is normalised to NFC so the same name is stored the same way."""
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise InvalidInput(field, "is empty")
    if len(text) > MAX_NAME:
        raise InvalidInput(field, f"is longer than {MAX_NAME} characters")
    if any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise InvalidInput(field, "contains control characters")
    return text


def clean_website(value: str, field: str) -> str:
    """A web site's host name, lower case, without a trailing dot."""
    text = value.strip().lower().removesuffix(".")
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2 or not all(_HOST_LABEL_RE.fullmatch(x) for x in labels):
        raise InvalidInput(field, "is not a host name (like www.example.com)")
    return text


def clean_ftp_name(value: str, field: str) -> str:
    text = value.strip().lower()
    if not _FTP_NAME_RE.fullmatch(text):
        raise InvalidInput(
            field, "must be 2-64 characters: lowercase letters, digits, '.', '_' or '-'"
        )
    return text


def is_registrar(actor: Actor) -> bool:
    """Who may register customers: the signup site's service token, or an operator at the
    console (a service actor `cli:<user@host>`, which no API token can carry). The rules can
    only say "a service"; which service it is, is checked here."""
    return actor.kind is ActorKind.SERVICE and (
        actor.id == ServiceName.SIGNUP.value or actor.id.startswith(CLI_OPERATOR_PREFIX)
    )
