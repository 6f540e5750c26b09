"""The Dovecot staff-login gate (P10, P11, P14): `customer-address*staffname` with the staff
member's own password logs in only under an active grant for exactly that mailbox, and each
such login consumes one session of the grant, ledgered.

The decision is `GrantEntry.enter` (services/grant_entry.py), shared with the FTP server;
this module says only what is particular to mail: a mailbox is found by its address through
the registry's blind index, the `mail_hook` token asks, and the outcome ids are `mail.*`.

Dovecot's Lua passdb (`adapters/mail/dovecot_passdb.lua`) calls `POST /v1/gate/mail-login`
with the `mail_hook` service token; this service answers. Anything but a clean allow is a
denial; the hook itself turns "Entrusted unreachable" into a temporary failure. When a grant
on a mailbox ends, `MailboxSessions.kick` (registered with `GrantEntry.serve`) asks the mail
server to end the mailbox's live sessions.

```python
login = mail.login(mail_hook, "info@example.org", "sam", password, "192.0.2.7")
login.grant_id, login.expires_at                  # or Refused / AuthenticationFailed / NotFound
```
"""

from __future__ import annotations

from entrusted.domain.cases import Grant
from entrusted.domain.policy import Action, Actor, ResourceKind
from entrusted.domain.staff import ServiceName
from entrusted.errors import InvalidInput, NotFound
from entrusted.services.grant_entry import Boundary, Entry, GrantEntry, Target
from entrusted.services.mailbox_monitor import find_mailbox, mailbox_address
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import MailSessions
from entrusted.services.registry import RegistryParts

MailLogin = Entry  # what an allowed staff login at the mail server carries


class MailLoginService:
    def __init__(self, registry: RegistryParts, entry: GrantEntry) -> None:
        self._registry = registry
        self._entry = entry
        self.boundary = Boundary(
            kind=ResourceKind.MAILBOX_CONTENT,
            noun="mailbox",
            server=ServiceName.MAIL_HOOK,
            action=Action.READ,
            note="imap login",
            find=self._mailbox,
            server_only=Outcome.MAIL_HOOK_ONLY,
            unauthenticated=Outcome.MAIL_STAFF_UNAUTHENTICATED,
            unknown_target=Outcome.MAIL_UNKNOWN_TARGET,
            no_grant=Outcome.MAIL_NO_GRANT,
        )

    def login(
        self, caller: Actor, target: str, username: str, password: str, remote_ip: str
    ) -> MailLogin:
        """Decide a staff login to `target` for the mail server's hook (see the module doc)."""
        return self._entry.enter(caller, self.boundary, target, username, password, remote_ip)

    def _mailbox(self, target: str) -> Target | None:
        try:
            box = find_mailbox(self._registry, target)
        except (InvalidInput, NotFound):
            return None
        return Target(box.service_id, box.contract)


class MailboxSessions:
    """`GrantSessions` for the mail server: a grant's sessions are those of its mailbox, which
    the mail server ends by address (`MailSessions.kick`)."""

    def __init__(self, registry: RegistryParts, sessions: MailSessions) -> None:
        self._registry = registry
        self._sessions = sessions

    def kick(self, grant: Grant) -> None:
        address = mailbox_address(self._registry, grant.contract_id, grant.service_id)
        if address is not None:
            self._sessions.kick(address)

    def end(self, session_id: str) -> None:
        """Dovecot keeps no per-grant-session handle; its sessions end with `kick`."""
