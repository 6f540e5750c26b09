"""`MailCheck` (services/mail_check.py) with scripted twins: which step each answer of Dovecot
and each ledger entry makes fail, and that a refusal without a grant is the success case.
The real chain is tested in tests/integration/test_mail_check.py."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import ResourceKind
from entrusted.errors import InvalidInput
from entrusted.services.mail_check import ImapAttempt, LoginAnswer, MailCheck, Step
from entrusted.services.outcomes import Outcome

REFUSED = "[AUTHENTICATIONFAILED] Authentication failed."
UNAVAILABLE = "[UNAVAILABLE] Temporary authentication failure."


def entry(decision: str, rule: str, kind: str = ResourceKind.MAILBOX_CONTENT) -> AuditEntry:
    return AuditEntry(
        time=datetime(2026, 11, 30, tzinfo=UTC),
        actor_kind="staff",
        actor_id="stf_1",
        action="read",
        resource_kind=kind,
        resource_id="svc_1",
        decision=decision,
        reason="no consent for this mailbox",
        rule=rule,
        refs={"grant": "gnt_1"} if decision == "allow" else {},
        nonce=os.urandom(32),
    )


@dataclass
class Ledger:
    rows: list[bytes] = field(default_factory=list)

    def stored_size(self) -> int:
        return len(self.rows)

    def entries(self, start: int, end: int) -> list[bytes]:
        return self.rows[start:end]


@dataclass
class Imap:
    """Answers `seen`, appending `writes` to the ledger as the API would meanwhile."""

    ledger: Ledger
    seen: ImapAttempt
    writes: list[AuditEntry] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    where: str = "127.0.0.1:143"

    def attempt(self, user: str, password: str) -> ImapAttempt:
        self.users.append(user)
        self.ledger.rows.extend(e.to_bytes() for e in self.writes)
        return self.seen


@dataclass
class Hook:
    down: str | None = None
    url: str = "http://127.0.0.1:8001/v1/gate/mail-login"

    def error(self) -> str | None:
        return self.down


def run(
    seen: ImapAttempt, *writes: AuditEntry, hook: Hook | None = None
) -> tuple[Imap, list[tuple[Step, bool]]]:
    ledger = Ledger([entry("deny", "older", kind="mailbox_metadata").to_bytes()])
    imap = Imap(ledger, seen, list(writes))
    check = MailCheck(imap, hook or Hook(), ledger, ResourceKind.MAILBOX_CONTENT, wait_s=0.05)
    report = check.run("sam", "info@example.org", "pw")
    return imap, [(s.step, s.ok) for s in report.steps]


def login(answer: LoginAnswer, text: str = "") -> ImapAttempt:
    return ImapAttempt(None, None, True, answer, text)


def test_a_ledgered_refusal_by_the_rules_is_success_and_logs_in_as_master_user() -> None:
    imap, steps = run(login(LoginAnswer.REFUSED, REFUSED), entry("deny", "mailbox-closed"))
    assert imap.users == ["info@example.org*sam"]
    assert steps == [(s, True) for s in Step]


@pytest.mark.parametrize(
    ("seen", "writes", "hook", "fails"),
    [
        (ImapAttempt("Connection refused"), [], None, Step.CONNECT),
        (ImapAttempt(None, tls="SSLError: wrong version number"), [], None, Step.TLS),
        (login(LoginAnswer.REFUSED, REFUSED), [], None, Step.HOOK_REACHED),
        # an entry about something else (mailbox metadata) is not the login's
        (login(LoginAnswer.REFUSED, REFUSED), [entry("deny", "x", "mailbox_metadata")], None,
         Step.HOOK_REACHED),
        (login(LoginAnswer.OK), [], None, Step.HOOK_REACHED),  # another passdb let it in
        (login(LoginAnswer.OTHER, "[PRIVACYREQUIRED] Plaintext authentication disallowed"), [],
         None, Step.HOOK_REACHED),
        (login(LoginAnswer.UNAVAILABLE, UNAVAILABLE), [], Hook("ConnectError"),
         Step.HOOK_ANSWERED),
        (login(LoginAnswer.UNAVAILABLE, UNAVAILABLE), [], None, Step.HOOK_ANSWERED),
        (login(LoginAnswer.REFUSED, REFUSED), [entry("deny", Outcome.MAIL_STAFF_UNAUTHENTICATED)],
         None, Step.DECISION),
        (login(LoginAnswer.REFUSED, REFUSED), [entry("deny", Outcome.MAIL_UNKNOWN_TARGET)],
         None, Step.DECISION),
        (login(LoginAnswer.REFUSED, REFUSED), [entry("deny", Outcome.MAIL_HOOK_ONLY)], None,
         Step.DECISION),
        (login(LoginAnswer.REFUSED, REFUSED), [entry("allow", "under-grant")], None,
         Step.DECISION),
        (login(LoginAnswer.OK), [entry("deny", "mailbox-closed")], None, Step.DECISION),
    ],
)  # fmt: skip
def test_each_broken_link_is_the_failing_step(
    seen: ImapAttempt, writes: list[AuditEntry], hook: Hook | None, fails: Step
) -> None:
    _, steps = run(seen, *writes, hook=hook)
    failing = [step for step, ok in steps if not ok]
    assert failing == [fails]
    assert [step for step, _ in steps][: list(Step).index(fails)] == list(Step)[
        : list(Step).index(fails)
    ]  # every link before it was checked, and passed


@pytest.mark.parametrize(
    ("seen", "rule"),
    [(login(LoginAnswer.OK), "under-grant"), (login(LoginAnswer.REFUSED, REFUSED),
                                              Outcome.SESSIONS_SPENT)],
)  # fmt: skip
def test_an_allow_under_a_grant_and_a_spent_grant_are_the_chain_working(
    seen: ImapAttempt, rule: str
) -> None:
    decision = "allow" if seen.answer is LoginAnswer.OK else "deny"
    _, steps = run(seen, entry(decision, rule))
    assert steps == [(s, True) for s in Step]


@pytest.mark.parametrize(
    ("staff", "mailbox", "password"),
    [("s*m", "info@example.org", "pw"), ("sam", "info", "pw"), ("sam", "a@b*c", "pw"),
     ("sam", "info@example.org", ""), ("", "info@example.org", "pw")],
)  # fmt: skip
def test_bad_input_is_refused_before_any_login(staff: str, mailbox: str, password: str) -> None:
    ledger = Ledger()
    imap = Imap(ledger, login(LoginAnswer.OK))
    with pytest.raises(InvalidInput):
        MailCheck(imap, Hook(), ledger, ResourceKind.MAILBOX_CONTENT).run(staff, mailbox, password)
    assert imap.users == []
