"""Where a mailbox's Maildir is, for the Maildir backend of the monitor (P13): from the path
template (`/srv/mail/%d/%n/Maildir`), or from Dovecot's userdb (`doveadm user -f home`) for
hosters whose homes are not one pattern (LDAP or SQL userdbs, moved customers).

```python
reader = MaildirMailboxes(UserdbLocation(Doveadm("doveadm"), "Maildir"))
reader.folders("info@example.org")   # the Maildir under the home Dovecot's userdb names
```
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from entrusted.adapters.mail.doveadm_status import EX_NOUSER, Doveadm, doveadm_user, failure
from entrusted.adapters.mail.maildir import MaildirReader
from entrusted.domain.mail import FolderStats, mailbox_root
from entrusted.errors import InvalidInput, Unavailable

Locate = Callable[[str], str | None]


class TemplateLocation:
    """The Maildir from the path template: `%d` domain, `%n` local part, `%u` address."""

    def __init__(self, template: str) -> None:
        self._template = template

    def __call__(self, address: str) -> str | None:
        return mailbox_root(self._template, address)


class UserdbLocation:
    """The Maildir at `<home>/<maildir>`, the home from `doveadm user -f home ADDRESS` (what
    `mail_location = maildir:~/Maildir` means to Dovecot). None: the userdb has no such user."""

    def __init__(self, doveadm: Doveadm, maildir: str = "Maildir") -> None:
        if maildir.startswith("/") or ".." in maildir.split("/"):
            raise InvalidInput("mail_userdb_maildir", "must be a path inside the home")
        self._doveadm = doveadm
        self._maildir = maildir

    def __call__(self, address: str) -> str | None:
        args = self._doveadm.argv("user", "-f", "home", "--", doveadm_user(address))
        done = self._doveadm.run(args)
        if done.returncode == EX_NOUSER:
            return None
        if done.returncode != 0:
            raise failure(done.returncode, "user")
        home = done.stdout.strip()
        if not home.startswith("/"):
            raise Unavailable("Dovecot's userdb gives this user no absolute home")
        return posixpath.join(home, self._maildir)


class MaildirMailboxes:
    """The `MailboxReader` over Maildir++ on this machine, each mailbox found by `locate`."""

    def __init__(self, locate: Locate, reader: MaildirReader | None = None) -> None:
        self._locate = locate
        self._reader = reader or MaildirReader()

    def folders(self, address: str) -> list[FolderStats] | None:
        root = self._locate(address)
        return None if root is None else self._reader.folders(root)
