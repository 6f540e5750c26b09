"""The `directory` transports: each e-mail an `.eml` file, each text a `.json` file, under the
data dir's `outgoing/`. An operator chooses them explicitly (`mail_transport = "directory"`,
`sms_transport = "directory"`) for a demo or a test installation; nothing leaves the machine,
yet every message exists somewhere a person can read it, unlike an in-memory list that dies
with the process. The files are 0600 in a 0700 directory: they hold codes and links.

Messages pass the same checks as the real adapters (`services.messaging`), so a demo refuses
exactly what production would.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from entrusted.adapters.smtp import compose, sender_domain
from entrusted.domain.mailings import MailPurpose
from entrusted.errors import Unavailable
from entrusted.services.messaging import (
    BatchResult,
    Outgoing,
    SentMail,
    SentSms,
    check_sms,
    send_each,
)


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    """Write a new file atomically (temp name, then rename), so a reader never sees half."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{stamp}-{secrets.token_hex(4)}{suffix}"
        partial = path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        partial.rename(path)
    except OSError as exc:
        raise Unavailable(f"cannot write to {folder}: {exc.strerror}") from None
    return path


class DirectoryMailer:
    """A `MailSender` that writes `.eml` files.

    ```python
    mailer = DirectoryMailer(Path("var/outgoing/mail"), "Example <noreply@example.com>")
    mailer.send("alice@example.com", "Your code", "123456", purpose=MailPurpose.SECURITY)
    ```
    """

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self._sender = sender
        self._domain = sender_domain(sender)

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
        message = compose(self._sender, self._domain, to, subject, body, headers, purpose, html)
        _write(self.folder, ".eml", message.as_bytes())
        return str(message["Message-ID"])

    def send_many(self, messages: Sequence[Outgoing], *, purpose: MailPurpose) -> BatchResult:
        return send_each(self, messages, purpose)

    def written(self) -> list[SentMail]:
        """Every message written so far, oldest first (file names start with the time):
        what a person (the demo, a test) reads back."""
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            part = parsed.get_body(("plain",))
            text = "" if part is None else str(part.get_content())
            rich = parsed.get_body(("html",)) if parsed.is_multipart() else None
            own = {"from", "to", "subject", "date", "message-id", "mime-version"}
            extra = {k: str(v) for k, v in parsed.items() if k.lower() not in own}
            extra = {k: v for k, v in extra.items() if not k.lower().startswith("content-")}
            found.append(
                SentMail(str(parsed["Message-ID"]), str(parsed["To"]), str(parsed["Subject"]),
                         text, extra, None if rich is None else str(rich.get_content()))
            )  # fmt: skip
        return found

    @property
    def sent(self) -> list[SentMail]:
        """The same as `written()`, under the in-memory twin's name."""
        return self.written()

    def __repr__(self) -> str:
        return f"DirectoryMailer({self.folder})"


class DirectorySms:
    """An `SmsSender` that writes `{"to", "text"}` as `.json` files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, to: str, text: str) -> None:
        check_sms(to, text)
        _write(self.folder, ".json", json.dumps({"to": to, "text": text}).encode())

    def written(self) -> list[SentSms]:
        """Every text written so far, oldest first."""
        return [
            SentSms(**json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(self.folder.glob("*.json"))
        ]

    @property
    def sent(self) -> list[SentSms]:
        """The same as `written()`, under the in-memory twin's name."""
        return self.written()

    def __repr__(self) -> str:
        return f"DirectorySms({self.folder})"
