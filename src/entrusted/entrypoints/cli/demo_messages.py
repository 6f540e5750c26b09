"""Where the demo's messages go: the `directory` transports, chosen explicitly for the demo,
write every e-mail as an `.eml` file and every text as `.json` under the data dir. The demo
reads its codes and links back from there, as a customer would from their inbox."""

from __future__ import annotations

import re
from pathlib import Path

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.bootstrap import Container
from entrusted.services.messaging import SentMail

# The settings the demo runs with: nothing leaves the machine, everything can be read.
DEMO_TRANSPORTS = {"mail_transport": "directory", "sms_transport": "directory"}
_CODE = re.compile(r"\b(\d{6})\b")


def mail_dir(c: Container) -> Path:
    assert isinstance(c.mailer, DirectoryMailer), "the demo runs with the directory transport"
    return c.mailer.folder


def mails(c: Container) -> list[SentMail]:
    """Every e-mail written so far, oldest first."""
    assert isinstance(c.mailer, DirectoryMailer), "the demo runs with the directory transport"
    return c.mailer.written()


def code_in(text: str) -> str:
    """The six-digit code of a code message, whatever the reader's language words it in."""
    found = _CODE.search(text)
    if found is None:
        raise LookupError("no six-digit code in the message")
    return found.group(1)


def last_body(c: Container, subject_starts: str = "") -> str:
    """The body of the newest e-mail whose subject starts with `subject_starts`."""
    for message in reversed(mails(c)):
        if message.subject.startswith(subject_starts):
            return message.body
    raise LookupError(f"no e-mail with a subject starting {subject_starts!r}")
