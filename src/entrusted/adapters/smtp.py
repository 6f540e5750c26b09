"""Send e-mail through the provider's SMTP relay (smtplib): one-time codes, notices, mailings.

One connection per message: identification codes are rare and must not wait behind a pooled
connection's failure, and a fresh connection re-checks TLS each time. Errors are translated
once, here, into the tree of `entrusted.errors`: a recipient the relay refuses for good is the
caller's `InvalidInput("to")`; everything else (refused connection, timeout, TLS failure,
rejected credentials, a relay policy that rejects the message, a temporary 4xx) is
`Unavailable`. Messages name the relay and the reply code, never the password, and replace
any address in the relay's reply text, since relays like to echo the recipient.

Credentials are only ever sent over STARTTLS, except to a loopback relay; a relay that stops
offering STARTTLS gets nothing, rather than a downgrade to plain text.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from entrusted.domain.contacts import canonical_email
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.messaging import check_mail, is_loopback

_ADDRESS_RE = re.compile(r"[^\s<>]+@[^\s<>]+")
_MAX_REPLY = 200


class SmtpMailer:
    """A `MailSender` that talks to one SMTP relay.

    ```python
    mailer = SmtpMailer("smtp.example.com", 587, starttls=True, username="entrusted",
                        password=secret, sender="Example Hosting <notices@example.com>")
    message_id = mailer.send("alice@example.com", "Your code", "123456",
                             {"Auto-Submitted": "auto-generated"})
    ```

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
        self, to: str, subject: str, body: str, headers: Mapping[str, str] | None = None
    ) -> str:
        """Send one plain-text message to `to` and return its Message-ID (for the ledger)."""
        message = compose(self._sender, self._domain, to, subject, body, headers)
        self._deliver(message, to)
        return str(message["Message-ID"])

    def _deliver(self, message: EmailMessage, to: str) -> None:
        where = f"mail relay {self._host}:{self._port}"
        try:
            smtp = smtplib.SMTP(
                self._host, self._port, local_hostname=self._local_hostname, timeout=self._timeout
            )
            try:
                if self._starttls:
                    smtp.starttls(context=self._tls_context)
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                smtp.send_message(message, from_addr=self._envelope_from, to_addrs=[to])
            finally:
                _hang_up(smtp)
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
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The message every mail transport sends (the relay, or a file for the directory
    transport), after the checks of `services.messaging.check_mail`."""
    given = dict(headers or {})
    check_mail(to, subject, given)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    # The domain is given so make_msgid never does its own (slow, DNS) FQDN lookup.
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in given.items():
        message[name] = value
    message.set_content(body)
    return message


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


def _reply(code: int, text: bytes | str) -> str:
    """The relay's reply, fit for a log line: one line, no addresses, bounded length."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    clean = _ADDRESS_RE.sub("<address>", " ".join(raw.split()))
    return f"{code} {clean[:_MAX_REPLY]}".rstrip()
