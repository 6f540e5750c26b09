"""The Dovecot staff-login gate (P10, P11, P14): `customer-address*staffname` with the staff
member's own password logs in only under an active grant for exactly that mailbox, and each
such login consumes one session of the grant, ledgered.

Dovecot's Lua passdb (`adapters/mail/dovecot_passdb.lua`) calls `POST /v1/gate/mail-login`
with the `mail_hook` service token; this service answers. Anything but a clean allow is a
denial; the hook itself turns "Entrusted unreachable" into a temporary failure. When a grant
on a mailbox ends, `end_sessions` (an `on_grant_ended` hook) asks the mail server to end the
mailbox's live sessions.

```python
login = mail.login(mail_hook, "info@example.org", "sam", password, "192.0.2.7")
login.grant_id, login.expires_at                  # or Refused / AuthenticationFailed / NotFound
```
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from entrusted.domain.cases import Grant
from entrusted.domain.policy import Action, Actor, ActorKind, Decision, Effect, ResourceKind
from entrusted.domain.registry import ServiceKind
from entrusted.domain.staff import ServiceName
from entrusted.errors import Refused
from entrusted.services.consent_parts import ConsentParts
from entrusted.services.gate import AccessContext
from entrusted.services.grants import GrantService
from entrusted.services.mailbox_monitor import find_mailbox, mailbox_address
from entrusted.services.ports import MailSessions
from entrusted.services.staff import StaffService

HOOK_ONLY_RULE = "mail.hook-only"
NO_GRANT_RULE = "mail.no-grant"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MailLogin:
    """An allowed staff login: the grant and session it runs under, and when it ends at the
    latest."""

    grant_id: str
    session_id: str
    case_id: str
    expires_at: datetime
    read_only: bool


class MailLoginService:
    def __init__(
        self,
        parts: ConsentParts,
        staff: StaffService,
        grants: GrantService,
        sessions: MailSessions | None = None,
    ) -> None:
        self._p = parts
        self._staff = staff
        self._grants = grants
        self._sessions = sessions

    def login(
        self, caller: Actor, target: str, username: str, password: str, remote_ip: str
    ) -> MailLogin:
        """Decide a staff login to `target` for the mail server's hook (see the module doc)."""
        if caller.kind is not ActorKind.SERVICE or caller.id != ServiceName.MAIL_HOOK.value:
            raise Refused(
                Decision(Effect.FORBID, HOOK_ONLY_RULE, "only the mail server's hook asks this")
            )
        member = self._staff.check_password(username, password, remote_ip or "unknown")
        box = find_mailbox(self._p.registry, target)
        resource = box.resource(ResourceKind.MAILBOX_CONTENT)
        now = self._p.clock()
        with self._p.uow() as uow:
            usable = [
                g
                for g in uow.grants.active_for_contract(box.contract.id)
                if g.staff_id == member.id
                and g.service_id == box.service_id
                and g.active_at(now)
                and not g.spent
            ]
        if not usable:
            # The gate decides (and ledgers) the attempt: without a grant the rules refuse.
            self._p.gate.decide(member, Action.READ, resource, AccessContext(note="imap login"))
            raise Refused(Decision(Effect.FORBID, NO_GRANT_RULE, "no usable grant"))
        grant = min(usable, key=lambda g: g.expires_at)
        used = self._grants.use(member, grant.id)
        return MailLogin(
            grant.id, used.session.id, grant.case_id, used.grant.expires_at, grant.read_only
        )

    def end_sessions(self, grant: Grant) -> None:
        """`on_grant_ended` hook: end the mailbox's live IMAP sessions. A failure is logged
        (without the address) and swallowed: the grant has ended in the database already,
        so no new login passes; the other hooks and the customer's notice must still run."""
        if self._sessions is None or grant.service_kind is not ServiceKind.MAILBOX:
            return
        try:
            address = mailbox_address(self._p.registry, grant.contract_id, grant.service_id)
            if address is not None:
                self._sessions.kick(address)
        except Exception:
            log.warning("could not end the mail sessions of grant %s", grant.id, exc_info=True)
