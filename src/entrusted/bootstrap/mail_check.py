"""`entrusted mail check` as the composition root builds it: the IMAP and hook probes for the
host and URL given, over this installation's ledger (services/mail_check.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from entrusted.adapters.mail.imap_probe import HttpHookProbe, ImaplibProbe, Security
from entrusted.config import Settings, split_listen
from entrusted.services.mail_check import MailCheck

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

HOOK_PATH = "/v1/gate/mail-login"


def default_hook_url(settings: Settings) -> str:
    """Where Dovecot asks by default: the internal hook listener when one is configured,
    else the API's own address."""
    host, port = settings.bind_host, settings.bind_port
    if settings.hooks_listen:
        host, port = split_listen(settings.hooks_listen)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}{HOOK_PATH}"


class ContainerSubjects:
    """`CheckSubjects` over this installation: the staff service and the mail boundary."""

    def __init__(self, c: Container) -> None:
        self._c = c

    def staff_id(self, username: str) -> str | None:
        return self._c.staff.staff_id_of(username)

    def mailbox_resource(self, address: str) -> str:
        boundary = self._c.mail_login.boundary
        found = boundary.find(address)
        return boundary.unknown.id if found is None else found.service_id

    def usable_grant(self, staff_id: str, address: str) -> str | None:
        return self._c.grant_entry.usable_grant(self._c.mail_login.boundary, address, staff_id)


def mail_check(
    c: Container,
    host: str,
    port: int,
    security: Security,
    hook_url: str | None = None,
    cafile: Path | None = None,
) -> MailCheck:
    """The check over `c`'s ledger; `InvalidInput` for plain text to a non-loopback host."""
    imap = ImaplibProbe(host, port, security, cafile)
    hook = HttpHookProbe(hook_url or default_hook_url(c.settings))
    kind = c.mail_login.boundary.kind
    return MailCheck(imap, hook, c.ledger_store, kind, ContainerSubjects(c))
