"""`entrusted mail check` against the real private Dovecot of mail_world.py (configured with
the files `entrusted mail dovecot-config --out` writes): the chain working (a ledgered
refusal without a grant, an allow with one), and each broken link named as the failing step
(API down, a wrong hook URL in the Lua settings, no master passdb, TLS, nothing listening,
a wrong password). Skips without Dovecot on a developer machine; fails under CI=true."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.adapters.mail.imap_probe import HttpHookProbe, ImaplibProbe, Security
from entrusted.bootstrap.mail_check import ContainerSubjects
from entrusted.domain.policy import ResourceKind
from entrusted.entrypoints.cli.main import app
from entrusted.services.mail_check import ImapAttempt, MailCheck, Step
from entrusted.services.outcomes import Outcome
from tests.conftest import require_service
from tests.integration.mail_world import MailWorld, dovecot, mail_world
from tests.integration.test_mail_dovecot import CUSTOMER_PW, ledgered, ok
from tests.integration.test_registry_sql import PASSWORD, staff


@pytest.fixture
def world(tmp_path: Path) -> Iterator[MailWorld]:
    require_service(dovecot.dovecot_binary() is not None, "Dovecot with dovecot-auth-lua")
    with mail_world(tmp_path) as w:
        yield w


def check(
    w: MailWorld, mailbox: str, *extra: str, port: int | None = None, password: str = PASSWORD
) -> Result:
    env = {
        "ENTRUSTED_DATABASE_URL": w.c.settings.effective_database_url,
        "ENTRUSTED_DATA_DIR": str(w.c.settings.data_dir),
        "ENTRUSTED_MAIL_CHECK_PASSWORD": password,
    }
    args = ["mail", "check", "--imap-host", "127.0.0.1", "--imap-port",
            str(port or w.server.port), "--staff", "sam", "--mailbox", mailbox,
            "--hook-url", w.api.url + "/v1/gate/mail-login", *extra]  # fmt: skip
    return CliRunner().invoke(app, args, env=env)


def failed_at(out: Result) -> str:
    assert out.exit_code == 1, out.output
    return out.output.split("failed at: ")[1].strip()


def test_without_a_grant_a_ledgered_refusal_is_success(world: MailWorld) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    out = check(w, alice.address, "--plain-loopback")
    assert out.exit_code == 0, out.output
    for step in Step:
        assert f"✓ {step}" in out.output
    assert "refused: no grant (as expected)" in out.output
    assert "Dovecot answered: [AUTHENTICATIONFAILED] Authentication failed." in out.output
    last = ledgered(w)[-1]  # the refusal the check saw is the gate's, for sam
    assert (last.decision, last.rule, last.actor_id) == ("deny", "mailbox-closed-to-staff", sam.id)
    assert "deny by mailbox-closed-to-staff" in out.output


def test_under_a_grant_the_login_passes_and_says_it_used_a_session(world: MailWorld) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    _, grant_id = w.grant(sam, alice, sessions=2)
    out = check(w, alice.address, "--plain-loopback", "--use-grant")
    assert out.exit_code == 0, out.output
    assert f"allowed under grant {grant_id} (this used one session)" in out.output
    assert ledgered(w)[-1].rule == "staff-read-mail-under-grant"


def test_under_a_grant_the_check_refuses_to_log_in_without_use_grant(world: MailWorld) -> None:
    """The login would spend one of the grant's one-off sessions (P11): exit 4, nothing sent,
    nothing ledgered, the session still there."""
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    _, grant_id = w.grant(sam, alice, sessions=1)
    size = w.c.ledger_store.stored_size()
    out = check(w, alice.address, "--plain-loopback")
    assert out.exit_code == 4, out.output
    assert grant_id in out.output
    assert "--use-grant" in out.output
    assert w.c.ledger_store.stored_size() == size
    assert ok(w, f"{alice.address}*sam", PASSWORD)  # the one session is still unused


class ThenAnother:
    """The real IMAP probe, and right after the check's login another staff member's real
    login through the same Dovecot: the busy server, where a newer entry is someone else's."""

    def __init__(self, w: MailWorld, probe: ImaplibProbe, user: str) -> None:
        self._w, self._probe, self._user = w, probe, user

    @property
    def where(self) -> str:
        return self._probe.where

    def attempt(self, user: str, password: str) -> ImapAttempt:
        seen = self._probe.attempt(user, password)
        assert ok(self._w, self._user, PASSWORD)
        return seen


def test_another_staff_members_concurrent_login_is_not_reported_as_the_checks(
    world: MailWorld,
) -> None:
    w = world
    staff(w.c, "sam", "support")
    kim = staff(w.c, "kim", "support")
    alice = w.customer(1, CUSTOMER_PW)
    _, grant_id = w.grant(kim, alice)
    imap = ThenAnother(w, ImaplibProbe("127.0.0.1", w.server.port, Security.PLAIN_LOOPBACK),
                       f"{alice.address}*kim")  # fmt: skip
    hook = HttpHookProbe(w.api.url + "/v1/gate/mail-login")
    subjects = ContainerSubjects(w.c)
    check_ = MailCheck(imap, hook, w.c.ledger_store, ResourceKind.MAILBOX_CONTENT, subjects)
    report = check_.run("sam", alice.address, PASSWORD)
    newest = ledgered(w)[-1]  # kim's allow came after sam's refusal
    assert (newest.actor_id, newest.rule) == (kim.id, "staff-read-mail-under-grant")
    assert report.ok, report.failed
    decision = next(s for s in report.steps if s.step is Step.DECISION)
    assert decision.detail.startswith("refused: no grant (as expected)")
    assert grant_id not in " ".join(s.detail for s in report.steps)


def test_a_wrong_password_fails_at_the_decision_with_its_outcome(world: MailWorld) -> None:
    w = world
    staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    out = check(w, alice.address, "--plain-loopback", password="not sam's password")
    assert failed_at(out) == Step.DECISION
    assert "wrong password or unknown staff name" in out.output
    assert ledgered(w)[-1].rule == Outcome.MAIL_STAFF_UNAUTHENTICATED


def test_the_api_down_fails_at_the_hooks_answer(world: MailWorld) -> None:
    w = world
    staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    w.api.stop()
    size = w.c.ledger_store.stored_size()
    out = check(w, alice.address, "--plain-loopback")
    assert failed_at(out) == Step.HOOK_ANSWERED
    assert f"✓ {Step.HOOK_REACHED}" in out.output
    assert f"nothing answers at {w.api.url}" in out.output
    assert w.c.ledger_store.stored_size() == size


def test_a_wrong_hook_url_in_the_lua_settings_fails_at_the_hooks_answer(
    world: MailWorld,
) -> None:
    """Entrusted's API is up, but this Dovecot's script asks a port where nothing listens."""
    w = world
    staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    wrong = f"http://127.0.0.1:{dovecot.free_port()}/v1/gate/mail-login"
    with dovecot.private_dovecot(wrong, "any-token") as other:
        other.add_customer(alice.address, CUSTOMER_PW)
        out = check(w, alice.address, "--plain-loopback", port=other.port)
    assert failed_at(out) == Step.HOOK_ANSWERED
    assert "whose API answers at" in out.output
    assert "dovecot_passdb.conf" in out.output


def test_a_dovecot_without_the_master_passdb_fails_at_reaching_the_hook(
    world: MailWorld,
) -> None:
    w = world
    staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    conf = w.server.base / "etc" / "dovecot.conf"
    conf.write_text(conf.read_text().replace("!include", "#!include"))
    assert w.server.doveadm("reload").returncode == 0
    out = check(w, alice.address, "--plain-loopback")
    assert failed_at(out) == Step.HOOK_REACHED
    assert "without asking Entrusted" in out.output
    assert "90-entrusted.conf" in out.output


def test_tls_asked_of_a_plain_port_fails_at_tls(world: MailWorld) -> None:
    w = world
    staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    size = w.c.ledger_store.stored_size()
    for flag in ("--tls", "--starttls"):
        out = check(w, alice.address, flag)
        assert failed_at(out) == Step.TLS, flag
        assert f"✓ {Step.CONNECT}" in out.output
    assert "offers no STARTTLS" in out.output
    assert w.c.ledger_store.stored_size() == size  # no password was sent


def test_tls_and_starttls_with_dovecots_certificate_and_a_wrong_ca(
    world: MailWorld, tmp_path: Path
) -> None:
    """Dovecot turned to `ssl = required` (STARTTLS on the IMAP port, and IMAPS) with a
    self-signed certificate: verified against it, the whole chain passes over either; against
    another, TLS fails."""
    w = world
    staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    etc = w.server.base / "etc"
    write_selfsigned(etc / "imap.crt", etc / "imap.key", "127.0.0.1")
    write_selfsigned(tmp_path / "other.crt", tmp_path / "other.key", "127.0.0.1")
    w.server.give(etc)
    conf = etc / "dovecot.conf"
    imaps = dovecot.free_port()
    conf.write_text(
        conf.read_text()
        .replace(
            "ssl = no\n", f"ssl = required\nssl_cert = <{etc}/imap.crt\nssl_key = <{etc}/imap.key\n"
        )
        .replace("port = 0\n", f"port = {imaps}\n")
    )
    assert w.server.doveadm("reload").returncode == 0
    dovecot.wait_for_port(imaps)
    for flag, port in (("--starttls", w.server.port), ("--tls", imaps)):
        out = check(w, alice.address, flag, "--cafile", str(etc / "imap.crt"), port=port)
        assert out.exit_code == 0, out.output + w.server.log()
        assert "✓ TLS: handshake done, certificate verified" in out.output
        assert "refused: no grant (as expected)" in out.output
    out = check(w, alice.address, "--starttls", "--cafile", str(tmp_path / "other.crt"))
    assert failed_at(out) == Step.TLS
    assert "CERTIFICATE_VERIFY_FAILED" in out.output


def test_nothing_listening_fails_at_connect(world: MailWorld) -> None:
    out = check(world, "1reto@example.org", "--plain-loopback", port=dovecot.free_port())
    assert failed_at(out) == Step.CONNECT


def test_bad_input_is_refused_before_anything_is_sent(world: MailWorld) -> None:
    w = world
    size = w.c.ledger_store.stored_size()
    env = {"ENTRUSTED_DATABASE_URL": w.c.settings.effective_database_url,
           "ENTRUSTED_DATA_DIR": str(w.c.settings.data_dir),
           "ENTRUSTED_MAIL_CHECK_PASSWORD": PASSWORD}  # fmt: skip
    base = ["mail", "check", "--staff", "sam", "--mailbox", "1reto@example.org"]
    for args, says in (
        (["--imap-host", "192.0.2.1", "--plain-loopback"], "not a loopback address"),
        (["--imap-host", "127.0.0.1", "--tls", "--starttls"], "give one of"),
        (["--imap-host", "127.0.0.1", "--plain-loopback", "--staff", "s*m"], "without *"),
    ):
        out = CliRunner().invoke(app, [*base, *args], env=env)
        assert out.exit_code == 2, out.output
        assert says in out.output
    out = CliRunner().invoke(app, [*base, "--imap-host", "127.0.0.1"], env={**env,
        "ENTRUSTED_MAIL_CHECK_PASSWORD": ""})  # fmt: skip
    assert out.exit_code == 2
    assert "--password-file" in out.output
    assert w.c.ledger_store.stored_size() == size
