"""What a person or a signup site submits to the registry, and its validation (P1, P2).

Everything is checked before anything is decided or written, and every error names the field
(`InvalidInput("mobile", "is not a mobile number")`), so a refused registration writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from entrusted.domain.registry import (
    MAX_SERVICES,
    PERSONAL_FIELDS,
    PREFERENCE_FIELDS,
    PersonalDetails,
    ServiceKind,
    clean_ftp_name,
    clean_language,
    clean_name,
    clean_time_zone,
    clean_website,
)
from entrusted.errors import InvalidInput
from entrusted.services.ports import ContactNormaliser


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A hosted service asked for: `kind` is mailbox, ftp_space, website or domain; `name` is
    the mailbox address, the FTP account, the site's or the domain's host name."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Registration:
    """A registration as submitted. Phone numbers are read as Swiss unless they start with +."""

    last_name: str
    first_name: str
    email: str
    phone: str | None = None
    mobile: str | None = None
    services: tuple[ServiceRequest, ...] = ()
    language: str | None = None  # en, fr, de, it; None: the configured default
    time_zone: str | None = None  # IANA name; None: the configured default


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def validate_details(contacts: ContactNormaliser, form: Registration) -> PersonalDetails:
    """The details of `form`, normalised; InvalidInput naming the first bad field."""
    return PersonalDetails(
        last_name=clean_name(form.last_name, "last_name"),
        first_name=clean_name(form.first_name, "first_name"),
        email=contacts.email(form.email, "email"),
        phone=None if _blank(form.phone) else contacts.phone(str(form.phone), "phone", False),
        mobile=None if _blank(form.mobile) else contacts.phone(str(form.mobile), "mobile", True),
    )


def validate_preferences(form: Registration) -> dict[str, str | None]:
    """The language and time zone of `form` (None where not given: the default)."""
    return {
        "language": None if _blank(form.language) else clean_language(str(form.language)),
        "time_zone": None if _blank(form.time_zone) else clean_time_zone(str(form.time_zone)),
    }


def validate_changes(
    contacts: ContactNormaliser, changes: Mapping[str, str | None]
) -> dict[str, str | None]:
    """The corrections in `changes`, validated, to apply with `dataclasses.replace`. Phone and
    mobile may be removed (None or blank); names and the e-mail address only replaced; the
    language and time zone set, or reset to the default with None."""
    unknown = sorted(set(changes) - set(PERSONAL_FIELDS) - set(PREFERENCE_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], "is not a personal detail that can be corrected")
    if not changes:
        raise InvalidInput("changes", "name at least one field to correct")
    values: dict[str, str | None] = {}
    for name, value in changes.items():
        if name in PREFERENCE_FIELDS:
            clean = clean_language if name == "language" else clean_time_zone
            values[name] = None if _blank(value) else clean(str(value), name)
        elif name in {"phone", "mobile"}:
            values[name] = (
                None if _blank(value) else contacts.phone(str(value), name, name == "mobile")
            )
        elif value is None:
            raise InvalidInput(name, "cannot be removed, only corrected")
        elif name == "email":
            values[name] = contacts.email(value, name)
        else:
            values[name] = clean_name(value, name)
    return values


def validate_services(
    contacts: ContactNormaliser, requests: Sequence[ServiceRequest]
) -> tuple[tuple[ServiceKind, str], ...]:
    """Each requested service's kind and canonical name; duplicates are refused."""
    if len(requests) > MAX_SERVICES:
        raise InvalidInput("services", f"at most {MAX_SERVICES} services per contract")
    out: list[tuple[ServiceKind, str]] = []
    for n, request in enumerate(requests):
        where = f"services[{n}]"
        try:
            kind = ServiceKind(request.kind)
        except ValueError:
            known = ", ".join(k.value for k in ServiceKind)
            raise InvalidInput(f"{where}.kind", f"must be one of {known}") from None
        if kind is ServiceKind.MAILBOX:
            name = contacts.email(request.name, f"{where}.name")
        elif kind in (ServiceKind.WEBSITE, ServiceKind.DOMAIN):
            name = clean_website(request.name, f"{where}.name")
        else:
            name = clean_ftp_name(request.name, f"{where}.name")
        if (kind, name) in out:
            raise InvalidInput(f"{where}.name", "is listed twice")
        out.append((kind, name))
    return tuple(out)


_TICKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:#/-]{0,63}")


def clean_ticket(value: str | None) -> str | None:
    """A helpdesk ticket reference, as support's look-ups name it (P1): it goes into the
    ledger, so it must be a reference (letters, digits, `._:#/-`, at most 64), never the
    caller's details typed into the wrong field."""
    if value is None or not value.strip():
        return None
    ticket = value.strip()
    if not _TICKET.fullmatch(ticket):
        raise InvalidInput("ticket", "must be a ticket reference: letters, digits, ._:#/- (1-64)")
    return ticket


def registration_from_row(row: Mapping[str, str | None]) -> Registration:
    """A registration from one row of an import file (names and e-mail are required)."""

    def get(name: str) -> str:
        value = row.get(name)
        if value is None:
            raise InvalidInput(name, "is missing")
        return value

    return Registration(
        last_name=get("last_name"),
        first_name=get("first_name"),
        email=get("email"),
        phone=row.get("phone") or None,
        mobile=row.get("mobile") or None,
        language=row.get("language") or None,
        time_zone=row.get("time_zone") or None,
    )
