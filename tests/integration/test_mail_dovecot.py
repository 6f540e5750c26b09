"""The staff-login gate against a real, private Dovecot 2.3 with Entrusted's Lua passdb and
Entrusted's API served by uvicorn: imaplib as the client (issue 7). Skips without Dovecot on
a developer machine; fails under CI=true."""

from __future__ import annotations

import imaplib
import itertools
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrusted.domain.audit import AuditEntry
from tests.conftest import require_service
from tests.integration.mail_world import MailWorld, dovecot, mail_world
from tests.integration.test_registry_sql import PASSWORD, staff

pytestmark = pytest.mark.promise("P10", "P11")

CUSTOMER_PW = "customer-pw-1"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[MailWorld]:
    require_service(dovecot.dovecot_binary() is not None, "Dovecot with dovecot-auth-lua")
    with mail_world(tmp_path) as w:
        yield w


_sources = itertools.count(2)


class FromFreshAddress(imaplib.IMAP4):
    """Each client from its own loopback address: Dovecot's anvil delays every login from an
    address after a failed one (seconds each), which would only slow the tests down."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        source = f"127.0.{next(_sources) % 250}.{next(_sources) % 250 + 2}"
        return socket.create_connection((self.host, self.port), timeout, (source, 0))


def login(w: MailWorld, user: str, password: str) -> tuple[str, imaplib.IMAP4 | None]:
    """("OK", connection) or (the server's failure text, None)."""
    conn = FromFreshAddress("127.0.0.1", w.server.port, timeout=15)
    try:
        conn.login(user, password)
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        return str(exc), None
    return "OK", conn


def ok(w: MailWorld, user: str, password: str) -> bool:
    result, conn = login(w, user, password)
    if conn is not None:
        conn.logout()
    return result == "OK"


def ledgered(w: MailWorld) -> list[AuditEntry]:
    store = w.c.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def test_staff_logins_pass_only_under_a_grant_once(world: MailWorld) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice, bob = w.customer(1, CUSTOMER_PW), w.customer(2, CUSTOMER_PW)
    assert ok(w, alice.address, CUSTOMER_PW)  # the customer, through the second passdb
    assert not ok(w, f"{alice.address}*sam", PASSWORD)  # no grant
    assert not ok(w, "sam", PASSWORD)  # the staff name alone is no mailbox
    _, grant_id = w.grant(sam, alice)
    assert not ok(w, f"{alice.address}*sam", "wrong password 1")
    assert not ok(w, f"{bob.address}*sam", PASSWORD)  # a grant for another mailbox
    assert ok(w, f"{alice.address}*sam", PASSWORD)  # under the grant: once
    assert not ok(w, f"{alice.address}*sam", PASSWORD)
    entries = [e for e in ledgered(w) if e.actor_id == sam.id]
    allowed = [e for e in entries if e.rule == "staff-read-mail-under-grant"]
    assert len(allowed) == 1
    assert allowed[0].refs["grant"] == grant_id
    assert any(e.rule == "mailbox-closed-to-staff" for e in entries)
    # The second login under the one-off grant is refused as such, with its grant and case.
    assert (entries[-1].decision, entries[-1].rule, entries[-1].refs["grant"]) == (
        "deny",
        "consent.sessions-spent",
        grant_id,
    )
    assert ok(w, alice.address, CUSTOMER_PW)


def test_resolving_the_case_ends_the_open_session_and_later_logins(world: MailWorld) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    case_id, _ = w.grant(sam, alice, sessions=3)
    result, conn = login(w, f"{alice.address}*sam", PASSWORD)
    assert result == "OK"
    assert conn is not None
    conn.select("INBOX")
    w.c.cases.resolve(sam, case_id)  # GrantEnded -> doveadm kick
    deadline = time.monotonic() + 10
    with pytest.raises((imaplib.IMAP4.abort, OSError)):  # noqa: PT012 - poll until kicked
        while time.monotonic() < deadline:
            conn.noop()
            time.sleep(0.1)
    conn.shutdown()
    assert not ok(w, f"{alice.address}*sam", PASSWORD)


def test_disabling_the_staff_member_ends_their_open_session(world: MailWorld) -> None:
    """Issue 10 item 4: a disabled member's IMAP session ends at once, not at its next login."""
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    w.grant(sam, alice, sessions=3)
    result, conn = login(w, f"{alice.address}*sam", PASSWORD)
    assert result == "OK"
    assert conn is not None
    conn.select("INBOX")
    w.c.staff.disable("sam")  # StaffDisabled -> grants end -> doveadm kick
    deadline = time.monotonic() + 10
    with pytest.raises((imaplib.IMAP4.abort, OSError)):  # noqa: PT012 - poll until kicked
        while time.monotonic() < deadline:
            conn.noop()
            time.sleep(0.1)
    conn.shutdown()
    assert not ok(w, f"{alice.address}*sam", PASSWORD)


def test_entrusted_unreachable_is_a_temporary_failure_for_staff_only(world: MailWorld) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    w.grant(sam, alice)
    w.api.stop()
    result, _ = login(w, f"{alice.address}*sam", PASSWORD)
    assert "[UNAVAILABLE]" in result
    assert ok(w, alice.address, CUSTOMER_PW)


def test_the_lua_clients_expect_100_continue_is_answered_at_once(world: MailWorld) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    w.grant(sam, alice, sessions=3)
    assert ok(w, f"{alice.address}*sam", PASSWORD)  # first: argon2
    started = time.perf_counter()
    assert ok(w, f"{alice.address}*sam", PASSWORD)
    assert time.perf_counter() - started < 1.0  # an unanswered Expect costs the client 2 s
    assert "100-continue" not in w.server.log()
