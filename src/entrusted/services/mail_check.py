"""`entrusted mail check`: does a hoster's Dovecot ask Entrusted before a staff login, and is
the answer ledgered? One login as `mailbox*staff` through the real Dovecot, each link of
the chain reported with what it means and where to look when it breaks.

Why a login and not a look at the configuration: only Dovecot knows which passdb it asks,
and only the ledger shows that Entrusted decided. Without a grant the expected answer is a
refusal by the rules, ledgered: that is the chain working (P10, P11, P3). With a grant the
login passes and uses one of its sessions, which the report says.

What each answer of Dovecot tells (the Lua passdb, adapters/mail/dovecot_passdb.lua):
`OK` (Entrusted allowed), `[AUTHENTICATIONFAILED]` (a definite no: Entrusted's 403, or
Dovecot never asked Entrusted), `[UNAVAILABLE]` (the script ran but had no answer from
Entrusted). The ledger entries appended meanwhile tell the first two apart.

Which entry is the check's: only one appended after the login started, on this mailbox (or
the placeholder a login to an unknown address is filed under), by this staff member (or, for
a wrong password, the hook's refusal naming this staff member's id). On a busy server other
logins are ledgered meanwhile; reporting the newest entry from anyone would blame (or credit)
the check for someone else's decision. A refusal of the hook's token names no one, and is
taken as the check's: a wrong token refuses every login alike.

Why the check refuses to log in when the staff member holds a usable grant on the mailbox
(unless `use_grant`): the login would be a real entry into the customer's mailbox and use up
one of the grant's one-off sessions (P11), which a configuration check should not do by
accident.

```python
check = MailCheck(imap, api, ledger, ResourceKind.MAILBOX_CONTENT, subjects)
report = check.run("sam", "info@example.org", password)
report.ok, report.failed          # True, None: every step passed
```
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import ActorKind, ResourceKind
from entrusted.errors import Conflict, InvalidInput
from entrusted.services.grant_entry import UNKNOWN_STAFF
from entrusted.services.outcomes import Outcome


class LoginAnswer(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # [AUTHENTICATIONFAILED]
    UNAVAILABLE = "unavailable"  # [UNAVAILABLE]: a passdb had a temporary failure
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ImapAttempt:
    """What one IMAP login attempt saw, step by step; a step not reached is None."""

    connected: str | None  # None: TCP connect worked; else the error
    tls: str | None = None  # None: TLS worked or was not asked for; else the error
    tls_used: bool = False
    answer: LoginAnswer | None = None
    server_text: str = ""


class ImapProbe(Protocol):
    """Logs in once through the mail server (adapters/mail/imap_probe.py)."""

    @property
    def where(self) -> str: ...
    def attempt(self, user: str, password: str) -> ImapAttempt: ...


class HookProbe(Protocol):
    """Whether Entrusted's hook URL answers HTTP from here (any status counts)."""

    @property
    def url(self) -> str: ...
    def error(self) -> str | None: ...


class LedgerEntries(Protocol):
    """The read side of the ledger the check needs (a narrow `LedgerLog`)."""

    def stored_size(self) -> int: ...
    def entries(self, start: int, end: int) -> list[bytes]: ...


class CheckSubjects(Protocol):
    """Who and what the check is about, by id, read before the login (bootstrap/mail_check.py
    over the staff service and the mail boundary)."""

    def staff_id(self, username: str) -> str | None: ...
    def mailbox_resource(self, address: str) -> str:
        """The resource id the gate files a login to `address` under (the unknown
        placeholder when nothing hosted has that address)."""
        ...

    def usable_grant(self, staff_id: str, address: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class _Mine:
    """What makes a ledger entry the check's own (see the module doc)."""

    kind: str
    staff_id: str | None
    resource_id: str

    def __call__(self, e: AuditEntry) -> bool:
        if e.resource_kind != self.kind:
            return False
        if e.rule == Outcome.MAIL_HOOK_ONLY:
            return True
        if e.resource_id != self.resource_id:
            return False
        if e.actor_kind == ActorKind.STAFF:
            return self.staff_id is not None and e.actor_id == self.staff_id
        # Refused before anyone was authenticated: the hook is the actor, and the reason
        # names the claimed staff member by id (services/grant_entry.py).
        who = self.staff_id or UNKNOWN_STAFF
        return e.rule == Outcome.MAIL_STAFF_UNAUTHENTICATED and f" as {who} refused:" in e.reason


class Step(StrEnum):
    CONNECT = "TCP connect"
    TLS = "TLS"
    HOOK_REACHED = "Dovecot reached the Entrusted hook"
    HOOK_ANSWERED = "the hook answered"
    DECISION = "decision"
    LEDGER = "the decision is in the ledger"


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    ok: bool
    detail: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class CheckReport:
    steps: tuple[StepResult, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if not s.ok), None)


SNIPPET_HINT = (
    "check that conf.d/90-entrusted.conf is included (`doveconf -n | grep -B1 -A4 'driver = "
    "lua'` shows the passdb with master = yes) and `doveconf -h auth_master_user_separator` "
    "is *; Dovecot's log says which passdb it asked"
)
# Refusals that mean the check itself was set up wrongly, not that the chain is broken.
SET_UP: dict[str, tuple[str, str]] = {
    Outcome.MAIL_STAFF_UNAUTHENTICATED: (
        "refused: wrong password or unknown staff name",
        "the check logs in with the staff member's own Entrusted password; check the name "
        "(`entrusted staff list`) and the password",
    ),
    Outcome.MAIL_UNKNOWN_TARGET: (
        "refused: no hosted mailbox has that address in Entrusted",
        "use the address of a mailbox registered with a customer's contract",
    ),
    Outcome.MAIL_HOOK_ONLY: (
        "refused: the token Dovecot sent is not the mail_hook service's",
        "put `entrusted staff service-token mail_hook` into the token file that "
        "entrusted/dovecot_passdb.conf names",
    ),
}


class MailCheck:
    def __init__(
        self,
        imap: ImapProbe,
        hook: HookProbe,
        ledger: LedgerEntries,
        kind: ResourceKind,
        subjects: CheckSubjects,
        wait_s: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._imap = imap
        self._hook = hook
        self._ledger = ledger
        self._kind = kind
        self._subjects = subjects
        self._wait_s = wait_s
        self._sleep = sleep

    def run(self, staff: str, mailbox: str, password: str, use_grant: bool = False) -> CheckReport:
        """Log in as `mailbox*staff` once and report each step (see the module doc).
        `Conflict`, before anything is sent, when `staff` holds a usable grant on `mailbox`
        and `use_grant` is not set."""
        if not staff or "*" in staff or any(c.isspace() for c in staff):
            raise InvalidInput("staff", "a staff username, without * or spaces")
        if "@" not in mailbox or "*" in mailbox or any(c.isspace() for c in mailbox):
            raise InvalidInput("mailbox", "a mailbox address such as info@example.org")
        if not password:
            raise InvalidInput("password", "the staff member's password is empty")
        staff_id = self._subjects.staff_id(staff)
        grant = None if staff_id is None else self._subjects.usable_grant(staff_id, mailbox)
        if grant is not None and not use_grant:
            raise Conflict(
                f"{staff} holds grant {grant} on this mailbox: the check's login would be a "
                "real entry into the customer's mailbox and use one of the grant's one-off "
                "sessions (P11); check with a staff member without a grant, or give "
                "--use-grant to spend the session knowingly"
            )
        mine = _Mine(self._kind, staff_id, self._subjects.mailbox_resource(mailbox))
        before = self._ledger.stored_size()
        seen = self._imap.attempt(f"{mailbox}*{staff}", password)
        steps = list(self._transport(seen))
        if seen.answer is None:
            return CheckReport(tuple(steps))
        waiting = seen.answer in (LoginAnswer.OK, LoginAnswer.REFUSED)
        entry = self._entry(before, mine, wait=waiting)
        steps.extend(self._chain(seen, entry))
        return CheckReport(tuple(steps))

    def _transport(self, seen: ImapAttempt) -> Sequence[StepResult]:
        where = self._imap.where
        if seen.connected is not None:
            return [
                StepResult(
                    Step.CONNECT,
                    False,
                    f"{where}: {seen.connected}",
                    "is Dovecot running and listening there (`doveconf -h listen`, the "
                    "imap or imaps inet_listener's port), and no firewall in between?",
                )
            ]
        steps = [StepResult(Step.CONNECT, True, where)]
        if seen.tls is not None:
            steps.append(
                StepResult(
                    Step.TLS,
                    False,
                    seen.tls,
                    "--tls is IMAPS (port 993), --starttls plain IMAP upgraded (port 143); "
                    "check ssl_cert in `doveconf -n`, the certificate's name and chain, or "
                    "--cafile for a private CA",
                )
            )
        elif seen.tls_used:
            steps.append(StepResult(Step.TLS, True, "handshake done, certificate verified"))
        else:
            steps.append(StepResult(Step.TLS, True, "not used: plain text on loopback"))
        if seen.answer is None and seen.tls is None:
            steps.append(
                StepResult(
                    Step.HOOK_REACHED,
                    False,
                    f"no IMAP answer to the login: {seen.server_text}",
                    "is this an IMAP port of Dovecot?",
                )
            )
        return steps

    def _chain(self, seen: ImapAttempt, entry: AuditEntry | None) -> Sequence[StepResult]:
        text = seen.server_text
        if seen.answer is LoginAnswer.UNAVAILABLE:
            reached = StepResult(
                Step.HOOK_REACHED, True, "Dovecot's staff passdb ran (temporary failure)"
            )
            return [reached, self._no_answer(entry, text)]
        if entry is None and seen.answer is LoginAnswer.OTHER:
            return [
                StepResult(
                    Step.HOOK_REACHED,
                    False,
                    f"Dovecot refused the login before any passdb: {text}",
                    "[PRIVACYREQUIRED] wants TLS (--tls or --starttls); otherwise Dovecot's "
                    "log says why",
                )
            ]
        if entry is None:
            if seen.answer is LoginAnswer.OK:
                return [
                    StepResult(
                        Step.HOOK_REACHED,
                        False,
                        "Dovecot let the login in, and Entrusted's ledger has no decision for it",
                        "another passdb accepted the login without Entrusted: Dovecot must "
                        "have no master passdb but Entrusted's (`doveconf -n | grep -B3 "
                        "'master = yes'`); or this command reads another database than the "
                        "API Dovecot asks",
                    )
                ]
            return [
                StepResult(
                    Step.HOOK_REACHED,
                    False,
                    f"Dovecot refused the login without asking Entrusted ({text})",
                    SNIPPET_HINT + "; or this command reads another database than the API "
                    "Dovecot asks",
                )
            ]
        steps = [
            StepResult(Step.HOOK_REACHED, True, "Entrusted received the login"),
            StepResult(Step.HOOK_ANSWERED, True, f"Dovecot answered: {text}"),
        ]
        steps.append(self._decision(seen, entry))
        steps.append(
            StepResult(
                Step.LEDGER,
                True,
                f"{entry.decision} by {entry.rule} at {entry.time:%Y-%m-%d %H:%M:%S} UTC",
            )
        )
        return steps

    def _no_answer(self, entry: AuditEntry | None, text: str) -> StepResult:
        if entry is not None:
            return StepResult(
                Step.HOOK_ANSWERED,
                False,
                f"Entrusted refused the hook's call ({entry.rule}); Dovecot answered: {text}",
                "the token file must hold a current `entrusted staff service-token mail_hook`",
            )
        problem = self._hook.error()
        if problem is not None:
            return StepResult(
                Step.HOOK_ANSWERED,
                False,
                f"nothing answers at {self._hook.url}: {problem}",
                "start Entrusted's API (`entrusted serve`, or its hook listener) and make "
                "`url` in entrusted/dovecot_passdb.conf point at it",
            )
        return StepResult(
            Step.HOOK_ANSWERED,
            False,
            f"Dovecot's hook had no answer from Entrusted, whose API answers at "
            f"{self._hook.url} from here ({text})",
            "check `url` in entrusted/dovecot_passdb.conf (reachable from the Dovecot host), "
            "that Dovecot's auth worker can read the token file it names, and that the file "
            "holds a current mail_hook token; Dovecot's log has the reason (lua)",
        )

    def _decision(self, seen: ImapAttempt, entry: AuditEntry) -> StepResult:
        grant = entry.refs.get("grant", "")
        if entry.decision == "allow":
            if seen.answer is not LoginAnswer.OK:
                return StepResult(
                    Step.DECISION,
                    False,
                    f"Entrusted allowed under grant {grant}, then Dovecot refused",
                    "the customers' passdb does not know this mailbox address",
                )
            return StepResult(
                Step.DECISION, True, f"allowed under grant {grant} (this used one session)"
            )
        if seen.answer is LoginAnswer.OK:
            return StepResult(
                Step.DECISION,
                False,
                "Entrusted refused, yet Dovecot let the login in",
                "another passdb accepted the login: " + SNIPPET_HINT,
            )
        if entry.rule in SET_UP:
            detail, hint = SET_UP[entry.rule]
            return StepResult(Step.DECISION, False, detail, hint)
        if entry.rule == Outcome.SESSIONS_SPENT:
            return StepResult(Step.DECISION, True, f"refused: grant {grant} has no session left")
        return StepResult(Step.DECISION, True, f"refused: no grant (as expected): {entry.reason}")

    def _entry(self, before: int, mine: _Mine, wait: bool) -> AuditEntry | None:
        """The last of the check's own decisions (`mine`, see the module doc) appended since
        `before`; when Dovecot gave a definite
        answer, wait a little for it (the API ledgers before it answers, but another process's
        commit may take a moment to show)."""
        deadline = time.monotonic() + (self._wait_s if wait else 0.0)
        while True:
            size = self._ledger.stored_size()
            found = [
                e for e in map(AuditEntry.from_bytes, self._ledger.entries(before, size)) if mine(e)
            ]
            if found or time.monotonic() >= deadline:
                return found[-1] if found else None
            self._sleep(0.1)
