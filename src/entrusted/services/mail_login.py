"""The Dovecot staff-login gate (P10, P11, P14): `customer-address*staffname` with the staff
member's own password logs in only under an active grant for exactly that mailbox, and each
such login consumes one session of the grant, ledgered.

Every refusal is ledgered with its reason, also those decided before the rules are asked: a
caller other than the hook (`mail.hook-only`), a wrong password or unknown staff member
(`mail.staff-unauthenticated`, filed under the mailbox's holder when the target exists), an
unknown target (`mail.unknown-target`). An attempt on a mailbox whose contract has an open case
carries that case (the staff member's own, else the newest), so the case's closing summary
lists refused attempts as well as allowed ones.

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
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.domain.registry import ServiceKind
from entrusted.domain.staff import ServiceName
from entrusted.errors import AuthenticationFailed, InvalidInput, NotFound, RateLimited
from entrusted.services.cases import staff_case
from entrusted.services.consent_parts import ConsentParts
from entrusted.services.gate import AccessContext
from entrusted.services.grants import GrantService
from entrusted.services.mailbox_monitor import Mailbox, find_mailbox, mailbox_address
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import MailSessions
from entrusted.services.staff import StaffService

# What a refusal is filed against when the target names no hosted mailbox (never the address).
UNKNOWN_TARGET = Resource(ResourceKind.MAILBOX_CONTENT, "unknown-mailbox")
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
        p = self._p
        if caller.kind is not ActorKind.SERVICE or caller.id != ServiceName.MAIL_HOOK.value:
            p.outcomes.refuse(
                caller,
                Action.READ,
                UNKNOWN_TARGET,
                Outcome.MAIL_HOOK_ONLY,
                "only the mail server's hook asks this",
                AccessContext(note="imap login"),
            )
        box = self._mailbox(target)
        resource = UNKNOWN_TARGET if box is None else box.resource(ResourceKind.MAILBOX_CONTENT)
        try:
            member = self._staff.check_password(username, password, remote_ip or "unknown")
        except (AuthenticationFailed, RateLimited) as exc:
            case_id = None if box is None else self._case(None, box)
            p.outcomes.record(
                caller,
                Action.READ,
                resource,
                Outcome.MAIL_STAFF_UNAUTHENTICATED,
                f"imap login as staff {username[:64]!r} refused: {exc.message}",
                AccessContext(case_id=case_id, note="imap login"),
                allowed=False,
            )
            raise
        if box is None:
            p.outcomes.record(
                member,
                Action.READ,
                resource,
                Outcome.MAIL_UNKNOWN_TARGET,
                "imap login refused: the target is not a hosted mailbox",
                AccessContext(note="imap login"),
                allowed=False,
            )
            raise NotFound("mailbox", "with that address")
        now = p.clock()
        with self._p.uow() as uow:
            live = [
                g
                for g in uow.grants.active_for_contract(box.contract.id)
                if g.staff_id == member.id
                and g.service_id == box.service_id
                and g.active_at(now)
            ]
        usable = [g for g in live if not g.spent]
        if not usable and live:
            # A grant whose sessions are all used still counts for the sessions it opened (the
            # gate would allow them), but never for a new login: one-off means one-off (P11).
            spent = live[0]
            p.outcomes.refuse(
                member,
                Action.READ,
                resource,
                Outcome.SESSIONS_SPENT,
                f"grant {spent.id} allowed {spent.max_sessions} session(s); all are used",
                AccessContext(case_id=spent.case_id, grant_id=spent.id, note="imap login"),
            )
        if not usable:
            # The gate decides (and ledgers) the attempt: without a grant the rules refuse.
            ctx = AccessContext(case_id=self._case(member.id, box), note="imap login")
            p.gate.decide(member, Action.READ, resource, ctx)
            p.outcomes.refuse(
                member, Action.READ, resource, Outcome.MAIL_NO_GRANT, "no usable grant", ctx
            )
        grant = min(usable, key=lambda g: g.expires_at)
        used = self._grants.use(member, grant.id)
        return MailLogin(
            grant.id, used.session.id, grant.case_id, used.grant.expires_at, grant.read_only
        )

    def _mailbox(self, target: str) -> Mailbox | None:
        try:
            return find_mailbox(self._p.registry, target)
        except (InvalidInput, NotFound):
            return None

    def _case(self, staff_id: str | None, box: Mailbox) -> str | None:
        with self._p.uow() as uow:
            return staff_case(uow, box.holder_id, box.contract.id, staff_id)

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
