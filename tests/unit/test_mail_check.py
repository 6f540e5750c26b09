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
from entrusted.errors import Conflict, InvalidInput
from entrusted.services.mail_check import ImapAttempt, LoginAnswer, MailCheck, Step
from entrusted.services.outcomes import Outcome

REFUSED = "[AUTHENTICATIONFAILED] Authentication failed."
UNAVAILABLE = "[UNAVAILABLE] Temporary authentication failure."
HOOK = ("service", "mail_hook")  # the actor of a refusal before authentication
KIM = ("staff", "stf_2")  # another staff member, logging in meanwhile


def entry(
    decision: str,
    rule: str,
    kind: str = ResourceKind.MAILBOX_CONTENT,
    *,
    actor: tuple[str, str] = ("staff", "stf_1"),
    resource: str = "svc_1",
    reason: str = "no consent for this mailbox",
) -> AuditEntry:
    return AuditEntry(
        time=datetime(2026, 11, 30, tzinfo=UTC),
        actor_kind=actor[0],
        actor_id=actor[1],
        action="read",
        resource_kind=kind,
        resource_id=resource,
        decision=decision,
        reason=reason,
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


@dataclass
class Subjects:
    """sam is stf_1, info@example.org is svc_1; `grant` is sam's usable grant there."""

    grant: str | None = None

    def staff_id(self, username: str) -> str | None:
        return {"sam": "stf_1", "kim": "stf_2"}.get(username)

    def mailbox_resource(self, address: str) -> str:
        return "svc_1" if address == "info@example.org" else "unknown-mailbox"

    def usable_grant(self, staff_id: str, address: str) -> str | None:
        return self.grant if (staff_id, address) == ("stf_1", "info@example.org") else None


def checker(imap: Imap, subjects: Subjects | None = None, hook: Hook | None = None) -> MailCheck:
    kind = ResourceKind.MAILBOX_CONTENT
    return MailCheck(imap, hook or Hook(), imap.ledger, kind, subjects or Subjects(), wait_s=0.05)


def run(
    seen: ImapAttempt,
    *writes: AuditEntry,
    hook: Hook | None = None,
    mailbox: str = "info@example.org",
) -> tuple[Imap, list[tuple[Step, bool]], list[str]]:
    ledger = Ledger([entry("deny", "older", kind="mailbox_metadata").to_bytes()])
    imap = Imap(ledger, seen, list(writes))
    report = checker(imap, hook=hook).run("sam", mailbox, "pw")
    return imap, [(s.step, s.ok) for s in report.steps], [s.detail for s in report.steps]


def login(answer: LoginAnswer, text: str = "") -> ImapAttempt:
    return ImapAttempt(None, None, True, answer, text)


def test_a_ledgered_refusal_by_the_rules_is_success_and_logs_in_as_master_user() -> None:
    imap, steps, _ = run(login(LoginAnswer.REFUSED, REFUSED), entry("deny", "mailbox-closed"))
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
        (login(LoginAnswer.REFUSED, REFUSED), [entry("deny", Outcome.MAIL_STAFF_UNAUTHENTICATED,
         actor=HOOK, reason="imap login as stf_1 refused: wrong or unknown credentials")],
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
    _, steps, _ = run(seen, *writes, hook=hook)
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
    _, steps, _ = run(seen, entry(decision, rule))
    assert steps == [(s, True) for s in Step]


@pytest.mark.parametrize(
    ("staff", "mailbox", "password"),
    [("s*m", "info@example.org", "pw"), ("sam", "info", "pw"), ("sam", "a@b*c", "pw"),
     ("sam", "info@example.org", ""), ("", "info@example.org", "pw")],
)  # fmt: skip
def test_bad_input_is_refused_before_any_login(staff: str, mailbox: str, password: str) -> None:
    imap = Imap(Ledger(), login(LoginAnswer.OK))
    with pytest.raises(InvalidInput):
        checker(imap).run(staff, mailbox, password)
    assert imap.users == []


@pytest.mark.parametrize(
    "theirs",
    [
        entry("allow", "staff-read-mail-under-grant", actor=KIM),  # kim, same mailbox
        entry("deny", "mailbox-closed", resource="svc_2"),  # sam, another mailbox
        entry("deny", Outcome.MAIL_STAFF_UNAUTHENTICATED, actor=HOOK,
              reason="imap login as stf_2 refused: wrong or unknown credentials"),
        entry("deny", Outcome.MAIL_STAFF_UNAUTHENTICATED, actor=HOOK,
              reason="imap login as an unknown staff name refused: wrong or unknown credentials"),
    ],
)  # fmt: skip
def test_a_concurrent_entry_of_someone_else_is_not_the_checks(theirs: AuditEntry) -> None:
    """On a busy server other logins are ledgered while the check waits: the check reports its
    own decision, never the newest one from anyone."""
    own = entry("deny", "mailbox-closed")
    _, steps, details = run(login(LoginAnswer.REFUSED, REFUSED), own, theirs)
    assert steps == [(s, True) for s in Step]
    assert details[-1].startswith("deny by mailbox-closed")
    _, steps, details = run(login(LoginAnswer.REFUSED, REFUSED), theirs)  # only theirs
    assert [step for step, ok in steps if not ok] == [Step.HOOK_REACHED]
    assert "without asking Entrusted" in details[-1]


def test_an_entry_from_before_the_check_is_not_the_checks() -> None:
    ledger = Ledger([entry("deny", "mailbox-closed").to_bytes()])  # sam, same mailbox, earlier
    imap = Imap(ledger, login(LoginAnswer.REFUSED, REFUSED))
    report = checker(imap).run("sam", "info@example.org", "pw")
    assert report.failed is not None
    assert report.failed.step is Step.HOOK_REACHED


def test_a_login_to_an_unknown_address_finds_its_refusal_under_the_placeholder() -> None:
    unknown = entry("deny", Outcome.MAIL_UNKNOWN_TARGET, resource="unknown-mailbox")
    _, steps, details = run(login(LoginAnswer.REFUSED, REFUSED), unknown, mailbox="x@example.net")
    assert [step for step, ok in steps if not ok] == [Step.DECISION]
    assert "no hosted mailbox has that address" in details[-2]


def test_a_usable_grant_stops_the_check_before_any_login_unless_use_grant() -> None:
    """A login under a grant is a real entry into the mailbox and spends a one-off session
    (P11): the check does not do it by accident."""
    ledger = Ledger()
    allow = entry("allow", "staff-read-mail-under-grant")
    imap = Imap(ledger, login(LoginAnswer.OK), [allow])
    with pytest.raises(Conflict, match=r"gnt_1.*--use-grant"):
        checker(imap, Subjects("gnt_1")).run("sam", "info@example.org", "pw")
    assert imap.users == []
    assert ledger.rows == []
    report = checker(imap, Subjects("gnt_1")).run("sam", "info@example.org", "pw", use_grant=True)
    assert report.ok
    assert imap.users == ["info@example.org*sam"]
    assert "this used one session" in report.steps[-2].detail
