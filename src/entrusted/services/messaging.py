"""Outgoing messages to customers: the ports for e-mail and SMS, and the checks every sender
applies before anything leaves.

Caller identification (a one-time code to the address or mobile on file), consent requests
and receipts, and the outbox's notices all send through these two Protocols. The real
adapters are `adapters.smtp.SmtpMailer` and `adapters.sms.HttpSmsGateway`; the operator may
choose the `directory` transports instead (`adapters.directory_transport`: files under the
data dir). With neither configured, `NoMailTransport` / `NoSmsTransport` fail every send
with a clear error: a message is never silently kept in memory outside tests. The in-memory twins in
`services.memory_mail` are for tests only. All of them run the same checks, here, so a test
against a twin refuses exactly what production would.

The checks exist because a recipient or header value comes from stored customer data or a
caller: a line break in one would let it add headers or recipients (header injection), and a
caller-supplied "To" or "Bcc" header would send the code somewhere other than the address on
file, defeating the point of identification.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from entrusted.domain.contacts import canonical_email, canonical_phone
from entrusted.domain.mailings import PURPOSE_HEADER, MailPurpose
from entrusted.errors import InvalidInput, Unavailable

# Headers the sender sets itself; letting a caller set them could redirect or forge a message.
RESERVED_HEADERS = frozenset(
    {
        "bcc",
        "cc",
        "content-transfer-encoding",
        "content-type",
        "date",
        "from",
        "message-id",
        "mime-version",
        "sender",
        "subject",
        "to",
        PURPOSE_HEADER.lower(),  # set from the purpose the port takes, never by a caller
    }
)
_HEADER_NAME_RE = re.compile(r"[!-9;-~]{1,76}", re.ASCII)  # RFC 5322 ftext, one short line
_FORBIDDEN_IN_VALUE = frozenset("\r\n\0")
MAX_SMS_TEXT = 1600  # ten concatenated segments; far more than a code or a notice needs


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a batch (`MailSender.send_many`)."""

    to: str
    subject: str
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Handed:
    """What the relay said to one message of a batch: its Message-ID once accepted, or the
    refusal; `permanent` when the relay refused the recipient for good (5xx)."""

    message_id: str | None
    error: str | None = None
    permanent: bool = False
    in_flight: bool = False  # the connection dropped after the whole message went out


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One `Handed` per message tried, in order. When the relay went away midway, `stopped`
    says why: the last `Handed` is the message in flight (never confirmed, so not accepted)
    and the messages after it were not tried."""

    handed: list[Handed]
    stopped: str | None = None


class MailSender(Protocol):
    """The one path out for e-mail. Every message names its purpose (`domain.mailings`),
    which the sender writes into the message as `X-Entrusted-Purpose`; there is no way to
    send without one."""

    def send(
        self,
        to: str,
        subject: str,
        body: str,
        headers: Mapping[str, str] | None = None,
        *,
        purpose: MailPurpose,
        html: str | None = None,
    ) -> str:
        """Send one message to one address, plain text with `html` as its alternative when
        given (multipart/alternative); returns its Message-ID.

        InvalidInput for a bad recipient or header; Unavailable when the relay cannot take it.
        """
        ...

    def send_many(self, messages: Sequence[Outgoing], *, purpose: MailPurpose) -> BatchResult:
        """Send a batch (a mailing's), over one connection where the transport has them."""
        ...


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> None:
        """Send one text message to one E.164 number.

        InvalidInput for a bad number or text; Unavailable when the gateway cannot take it.
        """
        ...


NO_MAIL = 'no mail transport is configured; set smtp_host, or mail_transport = "directory"'
NO_SMS = 'no SMS transport is configured; set sms_gateway_url, or sms_transport = "directory"'


class NoMailTransport:
    """The mailer of an installation that configured none: every message fails, loudly,
    naming what to configure (`serve` and `worker` refuse to start this way)."""

    def send(
        self,
        to: str,
        subject: str,
        body: str,
        headers: Mapping[str, str] | None = None,
        *,
        purpose: MailPurpose,
        html: str | None = None,
    ) -> str:
        raise Unavailable(NO_MAIL)

    def send_many(self, messages: Sequence[Outgoing], *, purpose: MailPurpose) -> BatchResult:
        raise Unavailable(NO_MAIL)


class NoSmsTransport:
    """The SMS sender of an installation that configured none; see `NoMailTransport`."""

    def send(self, to: str, text: str) -> None:
        raise Unavailable(NO_SMS)


@dataclass(frozen=True)
class SentMail:
    message_id: str
    to: str
    subject: str
    body: str
    headers: Mapping[str, str]
    html: str | None = None  # the HTML alternative, when the message had one


@dataclass(frozen=True)
class SentSms:
    to: str
    text: str


def check_mail(to: str, subject: str, headers: Mapping[str, str]) -> None:
    """InvalidInput naming the field unless `to` is one plain address, and the subject and
    headers are single lines that do not override what the sender sets."""
    if canonical_email(to, "to") != to:
        raise InvalidInput("to", "must be one address in canonical form; normalise it first")
    _check_single_line("subject", subject)
    for name, value in headers.items():
        if not _HEADER_NAME_RE.fullmatch(name):
            raise InvalidInput("headers", f"{name!r} is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidInput("headers", f"{name} is set by the mailer and cannot be given")
        _check_single_line(f"header {name}", value)


def send_each(
    sender: MailSender, messages: Sequence[Outgoing], purpose: MailPurpose
) -> BatchResult:
    """`send_many` for a transport without connections to reuse: one `send` per message; a
    refused message is reported and the batch goes on, an unavailable relay ends it."""
    handed: list[Handed] = []
    for m in messages:
        try:
            handed.append(Handed(sender.send(m.to, m.subject, m.body, m.headers, purpose=purpose)))
        except InvalidInput as exc:
            handed.append(Handed(None, exc.message, permanent=True))
        except Unavailable as exc:
            handed.append(Handed(None, exc.message))
            return BatchResult(handed, exc.message)
    return BatchResult(handed)


def check_sms(to: str, text: str) -> None:
    """InvalidInput naming the field unless `to` is E.164 and `text` is short and non-empty."""
    if canonical_phone(to, "to") != to:
        raise InvalidInput("to", "must be in E.164 form without blanks")
    if not text.strip():
        raise InvalidInput("text", "is empty")
    if len(text) > MAX_SMS_TEXT:
        raise InvalidInput("text", f"is longer than {MAX_SMS_TEXT} characters")


def _check_single_line(field: str, value: str) -> None:
    if _FORBIDDEN_IN_VALUE & set(value):
        raise InvalidInput(field, "must be a single line (no CR, LF or NUL)")
