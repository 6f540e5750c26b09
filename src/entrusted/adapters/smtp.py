"""Send e-mail through the provider's SMTP relay (smtplib): one-time codes, notices, mailings.

One connection per message: identification codes are rare and must not wait behind a pooled
connection's failure, and a fresh connection re-checks TLS each time. Errors are translated
once, here, into the tree of `entrusted.errors`: a recipient the relay refuses for good is the
caller's `InvalidInput("to")`; everything else (refused connection, timeout, TLS failure,
rejected credentials, a relay policy that rejects the message, a temporary 4xx) is
`Unavailable`; in a mailing's batch (`send_many`) a 5xx answer to DATA refuses that one
message for good, and a message the email package cannot build is refused for good too.
Messages name the relay and the reply code with its enhanced status code (RFC 3463), never
the password and never the reply's free text: relays like to echo the recipient in forms no
pattern catches ("local part rita, mailbox rita at example.org"), and these messages reach
API clients and the permanent ledger, whose entries name ids, never personal details.

Credentials are only ever sent over STARTTLS, except to a loopback relay; a relay that stops
offering STARTTLS gets nothing, rather than a downgrade to plain text.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.policy import SMTP as _SMTP
from email.policy import default as _default
from email.utils import formatdate, make_msgid, parseaddr
from typing import TypeVar

from entrusted.domain.contacts import canonical_email
from entrusted.domain.hosts import is_loopback
from entrusted.domain.mailings import PURPOSE_HEADER, MailPurpose
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.messaging import BatchResult, Handed, Outgoing, check_mail

T = TypeVar("T")
# Headers whose value is a structure a program reads (RFC 8058 one-click, feedback loops,
# threading): written as given, never folded into RFC 2047 encoded-words, which would break
# them. `refold_source="none"` keeps the email package from refolding what `set_raw` stored.
RAW_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post", "feedback-id", "message-id"})
MESSAGE_POLICY = _default.clone(refold_source="none")
SMTP_POLICY = _SMTP.clone(refold_source="none")
_ENHANCED_RE = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?!\S)")  # RFC 3463 class.subject.detail


class SmtpMailer:
    """A `MailSender` that talks to one SMTP relay.

    ```python
    mailer = SmtpMailer("smtp.example.com", 587, starttls=True, username="entrusted",
                        password=secret, sender="Example Hosting <notices@example.com>")
    message_id = mailer.send("alice@example.com", "Your code", "123456",
                             purpose=MailPurpose.SECURITY)
    ```

    `send_many` sends a mailing's batch over one connection (a relay answers each message on
    its own), so a large mailing does not pay a TCP and TLS handshake per recipient.

    `tls_context` defaults to the system trust store with hostname checking; pass one that
    trusts a private CA for an internal relay.
    """

    def __init__(
        self,
        host: str,
        port: int,
        starttls: bool,
        username: str | None,
        password: str | None,
        sender: str,
        timeout: float = 10.0,
        *,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise InvalidInput("smtp credentials", "give both username and password, or neither")
        if username is not None and not starttls and not is_loopback(host):
            raise InvalidInput(
                "smtp credentials", f"would cross the network to {host} in clear; enable STARTTLS"
            )
        if not 0 < port < 65536:
            raise InvalidInput("smtp port", f"{port} is not a TCP port")
        if timeout <= 0:
            raise InvalidInput("smtp timeout", "must be positive")
        self._host = host
        self._port = port
        self._starttls = starttls
        self._username = username
        self._password = password
        self._sender = sender
        self._envelope_from = canonical_email(parseaddr(sender)[1], "smtp sender")
        self._domain = self._envelope_from.rpartition("@")[2]
        self._timeout = timeout
        self._tls_context = tls_context or ssl.create_default_context()
        # Without it smtplib asks the resolver for this machine's FQDN on every connection.
        self._local_hostname = local_hostname or "localhost"

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
        """Send one message to `to` (multipart/alternative with `html`) and return its
        Message-ID (for the ledger)."""
        message = compose(self._sender, self._domain, to, subject, body, headers, purpose, html)
        self._deliver(message, to)
        return str(message["Message-ID"])

    def send_many(self, messages: Sequence[Outgoing], *, purpose: MailPurpose) -> BatchResult:
        """Send each message over one connection. A recipient the relay refuses is reported
        (`permanent` for a 5xx) and the batch goes on; a relay that goes away ends the batch
        with the messages it confirmed."""
        handed: list[Handed] = []
        if not messages:
            return BatchResult(handed)
        try:
            smtp = self._translated(self._open)
        except Unavailable as exc:
            return BatchResult(handed, exc.message)
        templates = _Templates(self._sender, self._domain, purpose)
        data_out = _watch_data_end(smtp)
        try:
            for m in messages:
                data_out[0] = False
                try:
                    message_id, data = templates.render(m)
                    self._translated(
                        lambda: self._transmit_bytes(smtp, data, m.to),  # noqa: B023
                        refused_data_is_final=True,
                    )
                    handed.append(Handed(message_id))
                except InvalidInput as exc:
                    handed.append(Handed(None, exc.message, permanent=True))
                except Unavailable as exc:
                    if _connection_lost(smtp) and data_out[0]:
                        # The relay had the whole message but its answer never came: it
                        # may have delivered it, so it is in flight, never to be resent.
                        detail = f"{exc.message} after the message was sent; may be delivered"
                        handed.append(Handed(None, detail, in_flight=True))
                        return BatchResult(handed, exc.message)
                    handed.append(Handed(None, exc.message))
                    if _connection_lost(smtp):
                        return BatchResult(handed, exc.message)
        finally:
            _hang_up(smtp)
        return BatchResult(handed)

    def _open(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(
            self._host, self._port, local_hostname=self._local_hostname, timeout=self._timeout
        )
        try:
            if self._starttls:
                smtp.starttls(context=self._tls_context)
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
        except BaseException:
            _hang_up(smtp)
            raise
        return smtp

    def _transmit(self, smtp: smtplib.SMTP, message: EmailMessage, to: str) -> None:
        smtp.send_message(message, from_addr=self._envelope_from, to_addrs=[to])

    def _transmit_bytes(self, smtp: smtplib.SMTP, data: bytes, to: str) -> None:
        smtp.sendmail(self._envelope_from, [to], data)

    def _deliver(self, message: EmailMessage, to: str) -> None:
        def once() -> None:
            smtp = self._open()
            try:
                self._transmit(smtp, message, to)
            finally:
                _hang_up(smtp)

        self._translated(once)

    def _translated(self, step: Callable[[], T], *, refused_data_is_final: bool = False) -> T:
        """Run one exchange with the relay, translating its errors into the errors tree.
        With `refused_data_is_final` (a mailing's batch), a 5xx answer to DATA refuses that
        one message for good (`InvalidInput`); a 4xx stays temporary."""
        where = f"mail relay {self._host}:{self._port}"
        try:
            return step()
        except smtplib.SMTPDataError as exc:
            detail = f"{where} refused the message: {_reply(exc.smtp_code, exc.smtp_error)}"
            if refused_data_is_final and 500 <= exc.smtp_code < 600:
                raise InvalidInput("message", detail) from None
            raise Unavailable(detail.replace("refused", "rejected", 1)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            if 500 <= code < 600:
                raise InvalidInput(
                    "to", f"{where} refused the recipient: {_reply(code, reply)}"
                ) from None
            raise Unavailable(f"{where} deferred the recipient: {_reply(code, reply)}") from None
        except smtplib.SMTPAuthenticationError as exc:
            # The reply text is dropped: some relays echo the (base64) credentials back.
            raise Unavailable(
                f"{where} refused the configured credentials ({exc.smtp_code})"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise Unavailable(f"{where}: {str(exc).rstrip('.')}; not sending") from None
        except smtplib.SMTPResponseException as exc:
            refused = isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError)
            what = "refused the connection" if refused else "rejected the message"
            raise Unavailable(f"{where} {what}: {_reply(exc.smtp_code, exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise Unavailable(f"{where} unreachable: {type(exc).__name__}: {detail}") from None

    def __repr__(self) -> str:
        auth = "with credentials" if self._username is not None else "without credentials"
        tls = "STARTTLS" if self._starttls else "plain"
        return f"SmtpMailer({self._host}:{self._port}, {tls}, {auth})"


def compose(
    sender: str,
    domain: str,
    to: str,
    subject: str,
    body: str,
    headers: Mapping[str, str] | None,
    purpose: MailPurpose,
    html: str | None = None,
) -> EmailMessage:
    """The message every mail transport sends (the relay, or a file for the directory
    transport), after the checks of `services.messaging.check_mail`. The purpose is written
    as `X-Entrusted-Purpose`; nothing the system sends is automatic mail a person must answer,
    so `Auto-Submitted: auto-generated` (RFC 3834) is set unless the caller set it."""
    given = dict(headers or {})
    check_mail(to, subject, given)
    if not isinstance(purpose, MailPurpose):
        raise InvalidInput("purpose", "every message names its purpose")
    message = EmailMessage(policy=MESSAGE_POLICY)
    try:
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        # The domain is given so make_msgid never does its own (slow, DNS) FQDN lookup.
        _set_raw(message, "Message-ID", make_msgid(domain=domain))
        message[PURPOSE_HEADER] = purpose.value
        if not any(name.lower() == "auto-submitted" for name in given):
            message["Auto-Submitted"] = "auto-generated"
        for name, value in given.items():
            if name.lower() in RAW_HEADERS:
                _set_raw(message, name, value)
            else:
                message[name] = value
        message.set_content(body)
        if html is not None:  # multipart/alternative: the text part first, the preferred last
            message.add_alternative(html, subtype="html")
    except (ValueError, TypeError, LookupError) as exc:
        # The email package refuses what check_mail let through (a line separator such as
        # U+2028 in the subject, say): this message cannot be built, which is final for it.
        raise InvalidInput("message", f"cannot be built: {exc}") from None
    return message


def _set_raw(message: EmailMessage, name: str, value: str) -> None:
    """Store a structured header exactly as given (see RAW_HEADERS)."""
    if not value.isascii() or len(name) + 2 + len(value) > 998:
        raise InvalidInput("headers", f"{name} must be ASCII on one line of at most 998")
    message.set_raw(name, value)


class _Templates:
    """A batch's messages, rendered from one template per (subject, body): a mailing sends
    the same text to thousands, and the `email` package's header objects cost more per
    message than the SMTP dialogue itself. The template is composed (and so checked) by
    `compose` like any message; each message replaces its `To` and `Message-ID` and adds its
    own headers, each checked by `check_mail` exactly as `compose` would."""

    _STAND_IN = "recipient@template.invalid"

    def __init__(self, sender: str, domain: str, purpose: MailPurpose) -> None:
        self._sender = sender
        self._domain = domain
        self._purpose = purpose
        self._cache: dict[tuple[str, str, bool], tuple[bytes, bytes]] = {}

    def render(self, m: Outgoing) -> tuple[str, bytes]:
        """The message's Message-ID and its bytes as sent."""
        check_mail(m.to, m.subject, dict(m.headers))
        own_auto = any(name.lower() == "auto-submitted" for name in m.headers)
        head, body = self._template(m.subject, m.body, own_auto)
        message_id = make_msgid(domain=self._domain)
        lines = [head, f"To: {m.to}\r\nMessage-ID: {message_id}\r\n".encode()]
        for name, value in m.headers.items():
            line = f"{name}: {value}\r\n"
            if not line.isascii() or len(line) > 998:
                # Rare (a long or non-ASCII value): let `compose` fold and encode it.
                message = compose(
                    self._sender, self._domain, m.to, m.subject, m.body, m.headers, self._purpose
                )
                return str(message["Message-ID"]), message.as_bytes(policy=SMTP_POLICY)
            lines.append(line.encode())
        lines.append(body)
        return message_id, b"".join(lines)

    def _template(self, subject: str, body: str, own_auto: bool) -> tuple[bytes, bytes]:
        """The head and body all messages of the text share; without `Auto-Submitted` when
        the messages carry their own, so each message has exactly one."""
        key = (subject, body, own_auto)
        if key not in self._cache:
            message = compose(
                self._sender, self._domain, self._STAND_IN, subject, body, {}, self._purpose
            )
            del message["To"]
            del message["Message-ID"]
            if own_auto:
                del message["Auto-Submitted"]
            data = message.as_bytes(policy=SMTP_POLICY)
            head, _, rest = data.partition(b"\r\n\r\n")
            self._cache[key] = (head + b"\r\n", b"\r\n" + rest)
        return self._cache[key]


def sender_domain(sender: str) -> str:
    """The domain of a From line's address, for Message-IDs."""
    return canonical_email(parseaddr(sender)[1], "smtp sender").rpartition("@")[2]


def _hang_up(smtp: smtplib.SMTP) -> None:
    """Say QUIT, but never let a failing goodbye turn a delivered message into an error (the
    caller would send it again): smtplib's own context manager raises on a non-221 QUIT."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _watch_data_end(smtp: smtplib.SMTP) -> list[bool]:
    """A flag set once a message's data went out whole (smtplib sends it, ending in
    CRLF.CRLF, in one `send`): a connection lost after that lost only the relay's answer."""
    flag = [False]
    original = smtp.send

    def send(s: bytes | str) -> None:
        original(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            flag[0] = True

    setattr(smtp, "send", send)  # noqa: B010 - on this one connection only
    return flag


def _connection_lost(smtp: smtplib.SMTP) -> bool:
    """Whether smtplib closed the connection (it drops its socket on a disconnect)."""
    return getattr(smtp, "sock", None) is None


def _reply(code: int, text: bytes | str) -> str:
    """The relay's reply as its code and enhanced status code ("550 5.1.1"): structured, so
    it says what happened without carrying anything the relay chose to echo."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    status = _ENHANCED_RE.match(raw.strip())
    return f"{code} {status.group(1)}" if status else str(code)
