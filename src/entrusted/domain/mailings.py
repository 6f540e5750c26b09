"""Why the provider writes to its customers (P6, P7), and the mailings it sends them.

Every message the system sends carries one `MailPurpose`, through the one mail port
(`services.messaging.MailSender`), which stamps it into the message. Two kinds exist:

* transactional notices, owed to one customer about their own account or case: a one-time
  code or a password link (`security`), a consent request, receipt or grant notice
  (`service_notice`). They are not mailings and are never sent in bulk;
* mailings (P7): the provider's own communications to its customers, each with exactly one
  of three purposes, `incident` (only the customers whose services the incident names),
  `new_service` (customers who did not opt out) and `terms_amendment` (every active customer).

Nothing else is a purpose: a mailing for a partner, a sponsor or a newsletter cannot even be
expressed (P6). Pure: ids and times come in as arguments.

    >>> parse_mailing_purpose("incident")
    <MailPurpose.INCIDENT: 'incident'>
    >>> parse_mailing_purpose("security")
    Traceback (most recent call last):
    ...
    entrusted.errors.InvalidInput: purpose: must be one of incident, new_service, terms_amendment
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from entrusted.errors import InvalidInput


class MailPurpose(StrEnum):
    """Why a message is sent; the mail port requires one and writes it into the message."""

    SECURITY = "security"  # one-time codes, password and address-change links
    SERVICE_NOTICE = "service_notice"  # consent and case notices owed to one customer
    INCIDENT = "incident"  # a technical incident concerning the recipient's services (P7)
    NEW_SERVICE = "new_service"  # a new service of ours; the customer may opt out (P7)
    TERMS_AMENDMENT = "terms_amendment"  # our terms or policy document changed (P7, P17)


MAILING_PURPOSES = frozenset(
    {MailPurpose.INCIDENT, MailPurpose.NEW_SERVICE, MailPurpose.TERMS_AMENDMENT}
)
PURPOSE_HEADER = "X-Entrusted-Purpose"
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_SERVICES = 500
# Fields a mailing request may never carry (P6): naming one refuses the whole request.
THIRD_PARTY_FIELDS = ("sponsor", "on_behalf_of", "third_party", "partner", "advertiser")


class MailingStatus(StrEnum):
    COMPOSED = "composed"  # recipients fixed, nothing sent yet
    SENDING = "sending"  # a run started; resumable
    INCOMPLETE = "incomplete"  # a run ended with recipients not yet mailed; resume sends them
    DONE = "done"  # every recipient was handed to the relay or refused for good


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not tried yet, or a temporary failure: the next run sends it
    SENDING = "sending"  # claimed by a run; if that run died, unknown: never sent again
    SENT = "sent"  # the relay accepted it
    REFUSED = "refused"  # the relay refused the recipient for good (5xx)


def parse_mailing_purpose(value: str | None) -> MailPurpose:
    """The mailing purpose named by `value`; InvalidInput for none or any other word."""
    allowed = ", ".join(sorted(p.value for p in MAILING_PURPOSES))
    if not value:
        raise InvalidInput("purpose", f"a mailing needs a purpose: one of {allowed}")
    try:
        purpose = MailPurpose(value)
    except ValueError:
        raise InvalidInput("purpose", f"must be one of {allowed}") from None
    if purpose not in MAILING_PURPOSES:
        raise InvalidInput("purpose", f"must be one of {allowed}")
    return purpose


@dataclass(frozen=True, slots=True)
class Mailing:
    """A composed mailing: one purpose, its text, and who it goes to (as delivery rows)."""

    id: str
    purpose: MailPurpose
    subject: str
    body: str
    created_by: str
    created_at: datetime
    status: MailingStatus = MailingStatus.COMPOSED
    services: tuple[str, ...] = ()  # the services an incident names
    recipients: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One recipient of one mailing and what came of it (ids only, never the address)."""

    mailing_id: str
    seq: int
    customer_id: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    message_id: str | None = None
    error: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A mailing's deliveries counted by status."""

    total: int
    sent: int
    refused: int
    pending: int
    unknown: int  # left `sending` by a run that did not finish: not sent again

    @property
    def finished(self) -> bool:
        return self.pending == 0


# Unicode categories no subject may hold: controls (ESC, BEL, NEL, \v, \f, \x1c, ...),
# format characters (bidi overrides, zero-width) and the line and paragraph separators; any
# of them would break the header (str.splitlines() splits on several) or a terminal.
_SUBJECT_FORBIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
_BODY_CONTROLS_ALLOWED = frozenset("\n\t\r")  # \r only for CRLF text files


def check_text(subject: str, body: str) -> None:
    """InvalidInput unless the subject is one short line of printable text and the body
    non-empty, bounded, and free of control characters but newline and tab."""
    subject_rule = f"must be one non-empty line of at most {MAX_SUBJECT} characters"
    if not subject.strip() or len(subject) > MAX_SUBJECT:
        raise InvalidInput("subject", subject_rule)
    bad = next((ch for ch in subject if unicodedata.category(ch) in _SUBJECT_FORBIDDEN), None)
    if bad is not None:
        raise InvalidInput(
            "subject", f"{subject_rule}, without control or format characters ({_name(bad)})"
        )
    if not body.strip() or len(body) > MAX_BODY:
        raise InvalidInput("body", f"must be non-empty text of at most {MAX_BODY} characters")
    bad = next(
        (ch for ch in body
         if unicodedata.category(ch) == "Cc" and ch not in _BODY_CONTROLS_ALLOWED),
        None,
    )  # fmt: skip
    if bad is not None:
        raise InvalidInput(
            "body", f"must not hold control characters but newline and tab ({_name(bad)})"
        )


def _name(ch: str) -> str:
    """How an error names a refused character: its code point, never the character."""
    return f"U+{ord(ch):04X}"
