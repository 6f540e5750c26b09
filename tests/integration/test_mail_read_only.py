"""Read-only mailbox grants enforced by the real Dovecot (issue 14 item 5): the Lua passdb
puts a staff login in an ACL group, the global ACL file of `entrusted mail dovecot-config`
gives the read-only group `lr` only. imaplib as the client, against the private Dovecot of
tests/integration/mail_world.py, which loads exactly the shipped ACL lines."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from faker import Faker

from entrusted.adapters.mail.dovecot import (
    READ_ONLY_GROUP,
    READ_WRITE_GROUP,
    acl_rules,
    lua_source,
)
from entrusted.adapters.mail.dovecot_config import DovecotLayout, snippet
from tests.conftest import require_service
from tests.integration.mail_world import Customer, MailWorld, dovecot, mail_world
from tests.integration.test_mail_dovecot import CUSTOMER_PW, ledgered, login
from tests.integration.test_registry_sql import PASSWORD, staff

pytestmark = pytest.mark.promise("P10", "P11")

ARCHIVE = "Archive"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[MailWorld]:
    require_service(dovecot.dovecot_binary() is not None, "Dovecot with dovecot-auth-lua")
    with mail_world(tmp_path) as w:
        yield w


def message(fake: Faker) -> bytes:
    return (
        f"From: {fake.email()}\r\nSubject: {fake.sentence()}\r\n\r\n{fake.paragraph()}\r\n"
    ).encode()


def connect(w: MailWorld, user: str, password: str) -> imaplib.IMAP4:
    result, conn = login(w, user, password)
    assert result == "OK", result
    assert conn is not None
    return conn


def select(conn: imaplib.IMAP4, box: str = "INBOX") -> bool:
    """SELECT, never EXAMINE (which is read-only whatever the ACLs say): True when the server
    opened the mailbox read-only. imaplib raises on a [READ-ONLY] answer to SELECT and then
    refuses every later command unless told it knows (`is_readonly`)."""
    try:
        typ, _ = conn.select(box)
    except imaplib.IMAP4.readonly:
        conn.is_readonly = True
        return True
    assert typ == "OK"
    return False


def flags(conn: imaplib.IMAP4) -> dict[int, set[str]]:
    """Each message's flags by UID, without \\Recent (which depends on who looked first)."""
    typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK"
    found: dict[int, set[str]] = {}
    for line in data:
        assert isinstance(line, bytes)
        m = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)", line)
        assert m is not None, line
        uid = int(m.group(1) or m.group(4))
        names = (m.group(2) if m.group(2) is not None else m.group(3)).decode()
        found[uid] = {f for f in names.split() if f != "\\Recent"}
    return found


def state(w: MailWorld, who: Customer) -> tuple[list[bytes], dict[str, dict[int, set[str]]]]:
    """The mailbox as its holder sees it: folder list and, per folder, UIDs and flags."""
    conn = connect(w, who.address, CUSTOMER_PW)
    try:
        typ, folders = conn.list()
        assert typ == "OK"
        seen: dict[str, dict[int, set[str]]] = {}
        for box in ("INBOX", ARCHIVE):
            select(conn, box)
            seen[box] = flags(conn)
        return sorted(f for f in folders if isinstance(f, bytes)), seen
    finally:
        conn.logout()


def furnish(w: MailWorld, who: Customer, fake: Faker) -> None:
    """Two messages in INBOX (one flagged as read), one in Archive, by the holder."""
    conn = connect(w, who.address, CUSTOMER_PW)
    assert conn.create(ARCHIVE)[0] == "OK"
    assert conn.append("INBOX", "(\\Seen)", None, message(fake))[0] == "OK"
    assert conn.append("INBOX", None, None, message(fake))[0] == "OK"
    assert conn.append(ARCHIVE, None, None, message(fake))[0] == "OK"
    conn.logout()


def refused(answer: tuple[str, Sequence[object]]) -> bool:
    typ, data = answer
    return typ == "NO" and any(b"[NOPERM]" in d for d in data if isinstance(d, bytes))


def test_a_read_only_grant_reads_and_changes_nothing(world: MailWorld, faker: Faker) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    furnish(w, alice, faker)
    before = state(w, alice)
    _, grant_id = w.grant(sam, alice, read_only=True)

    conn = connect(w, f"{alice.address}*sam", PASSWORD)
    typ, folders = conn.list()
    assert typ == "OK"
    assert sorted(f for f in folders if isinstance(f, bytes)) == before[0]
    assert select(conn) is True  # Dovecot answers SELECT with [READ-ONLY]
    typ, data = conn.fetch("1:*", "(BODY[])")  # not PEEK: would set \Seen if it could
    assert typ == "OK"
    assert sum(1 for d in data if isinstance(d, tuple)) == 2
    # STORE and EXPUNGE: Dovecot answers OK and changes nothing (the ACL drops flag changes
    # the grant does not allow); what counts is the mailbox afterwards, checked below.
    for flag in ("\\Deleted", "\\Seen", "\\Flagged", "$Label1"):
        conn.store("1:*", "+FLAGS", f"({flag})")
    conn.store("1", "-FLAGS", "(\\Seen)")
    conn.expunge()
    conn.uid("EXPUNGE", "1:*")
    # Everything else that writes is refused outright.
    assert refused(conn.append("INBOX", None, None, message(faker)))
    assert refused(conn.append(ARCHIVE, None, None, message(faker)))
    assert refused(conn.copy("1", ARCHIVE))
    assert refused(conn._simple_command("MOVE", "1", ARCHIVE))
    assert refused(conn.create("Planted"))
    assert refused(conn.rename(ARCHIVE, "Moved"))
    assert refused(conn.delete(ARCHIVE))
    assert len(flags(conn)) == 2
    conn.logout()

    assert state(w, alice) == before  # same folders, same messages, same flags
    # The login is ledgered as a read-only session of that grant (Dovecot's refusals of
    # single commands are not: it does not report them).
    opened = [e for e in ledgered(w) if e.rule == "staff-read-mail-under-grant"]
    assert [(e.actor_id, e.decision, e.refs["grant"], e.refs.get("note")) for e in opened] == [
        (sam.id, "allow", grant_id, "read-only")
    ]


def test_a_read_write_grant_may_change_the_mailbox(world: MailWorld, faker: Faker) -> None:
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    furnish(w, alice, faker)
    w.grant(sam, alice)  # read_only=False

    conn = connect(w, f"{alice.address}*sam", PASSWORD)
    assert select(conn) is False
    assert conn.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"
    assert conn.append("INBOX", None, None, message(faker))[0] == "OK"
    assert conn.copy("1", ARCHIVE)[0] == "OK"
    assert conn.create("Support")[0] == "OK"
    assert conn.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert conn.expunge()[0] == "OK"
    conn.logout()

    folders, boxes = state(w, alice)
    assert any(b"Support" in f for f in folders)
    assert len(boxes["INBOX"]) == 2  # 2 + 1 appended - 1 expunged
    assert {"\\Flagged"} in boxes["INBOX"].values()
    assert len(boxes[ARCHIVE]) == 2
    opened = [e for e in ledgered(w) if e.rule == "staff-read-mail-under-grant"]
    assert [(e.decision, e.refs.get("note")) for e in opened] == [("allow", None)]


def test_the_holders_own_login_keeps_every_right(world: MailWorld, faker: Faker) -> None:
    """The ACL plugin is loaded for everyone; the holder is the owner and keeps Dovecot's
    default rights, with or without a read-only grant open on the mailbox."""
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    furnish(w, alice, faker)
    w.grant(sam, alice, read_only=True)
    staff_conn = connect(w, f"{alice.address}*sam", PASSWORD)
    assert select(staff_conn) is True

    conn = connect(w, alice.address, CUSTOMER_PW)
    assert select(conn) is False
    assert conn.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert conn.expunge()[0] == "OK"
    assert conn.append("INBOX", None, None, message(faker))[0] == "OK"
    assert conn.rename(ARCHIVE, "Old")[0] == "OK"
    assert conn.delete("Old")[0] == "OK"
    typ, folders = conn.list()
    assert typ == "OK"
    assert [f for f in folders if isinstance(f, bytes) and (b"Old" in f or b"Archive" in f)] == []
    conn.logout()
    staff_conn.logout()


def test_staff_log_in_over_imap_only(world: MailWorld) -> None:
    """POP3 (DELE), ManageSieve or submission would go around the ACLs or past the grant: the
    Lua passdb refuses a master login for any service but IMAP, before Entrusted is asked."""
    w = world
    sam = staff(w.c, "sam", "support")
    alice = w.customer(1, CUSTOMER_PW)
    w.grant(sam, alice, sessions=2, read_only=True)
    for service in ("pop3", "sieve", "submission"):
        done = w.server.doveadm(
            "auth", "test", "-x", f"service={service}", f"{alice.address}*sam", PASSWORD
        )
        assert done.returncode != 0, done.stdout
        assert "auth failed" in done.stdout
    assert not [e for e in ledgered(w) if e.rule == "staff-read-mail-under-grant"]
    done = w.server.doveadm("auth", "login", "-x", "service=imap", f"{alice.address}*sam", PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"acl_groups={READ_ONLY_GROUP}" in done.stdout
    assert "master_user=sam" in done.stdout  # the ACLs are checked as "sam", not the owner


def test_the_shipped_lua_and_acl_lines_agree() -> None:
    """The Lua script names the groups the ACL file gives rights to; the snippet loads it."""
    lua, rules = lua_source(), acl_rules()
    for group in (READ_ONLY_GROUP, READ_WRITE_GROUP):
        assert f'"{group}"' in lua
        assert f"group-override={group} " in rules
    assert f"* group-override={READ_ONLY_GROUP} lr\n" in rules
    conf = snippet(DovecotLayout("http://127.0.0.1:8000/", "/x"))
    assert "mail_plugins = $mail_plugins acl" in conf
    assert "acl = vfile:/x/entrusted/entrusted-acl" in conf
