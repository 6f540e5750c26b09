"""In-memory twins of `MailSender` and `SmsSender`, for tests only (the composition root never
builds them: an installation without a transport fails loudly instead). They run the same
checks as the real adapters and record what would have been sent, so service tests can read
the one-time code a customer received. `fail = True` makes them fail like an unreachable
relay or gateway."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from entrusted.domain.mailings import PURPOSE_HEADER, MailPurpose
from entrusted.errors import Unavailable
from entrusted.services.messaging import (
    BatchResult,
    Outgoing,
    SentMail,
    SentSms,
    check_mail,
    check_sms,
    send_each,
)


class InMemoryMailer:
    """Records messages instead of sending them.

    >>> mailer = InMemoryMailer()
    >>> message_id = mailer.send("alice@example.com", "Your code", "123456",
    ...                          purpose=MailPurpose.SECURITY)
    >>> mailer.sent[0].message_id == message_id
    True
    """

    def __init__(self, domain: str = "entrusted.example") -> None:
        self.domain = domain
        self.sent: list[SentMail] = []
        self.fail = False

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
        given = dict(headers or {})
        check_mail(to, subject, given)
        if self.fail:
            raise Unavailable("mail relay unavailable")
        message_id = f"<{secrets.token_hex(16)}@{self.domain}>"
        given[PURPOSE_HEADER] = MailPurpose(purpose).value
        self.sent.append(SentMail(message_id, to, subject, body, given, html))
        return message_id

    def send_many(self, messages: Sequence[Outgoing], *, purpose: MailPurpose) -> BatchResult:
        return send_each(self, messages, purpose)


class InMemorySms:
    """Records text messages instead of sending them.

    >>> sms = InMemorySms()
    >>> sms.send("+41790000000", "Your code is 123456")
    >>> sms.sent[0].to
    '+41790000000'
    """

    def __init__(self) -> None:
        self.sent: list[SentSms] = []
        self.fail = False

    def send(self, to: str, text: str) -> None:
        check_sms(to, text)
        if self.fail:
            raise Unavailable("SMS gateway unavailable")
        self.sent.append(SentSms(to, text))
