"""Staff in a customer's FTPS backup space (issue 14, P9, P11), against the real pyftpdlib
server with `ftplib.FTP_TLS`, on SQLite and PostgreSQL: no entry without a grant (which rule
refused, ledgered, the case attached); one session per one-off grant; a read-only grant
refuses writes (ledgered); a grant that ends closes the open session."""

from __future__ import annotations

import ftplib
import io
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from entrusted.bootstrap import build
from entrusted.domain.audit import AuditEntry
from entrusted.domain.cases import GrantEnd
from entrusted.errors import Refused
from tests.integration.ftp_world import FtpWorld, ftp_world
from tests.integration.test_registry_sql import PASSWORD, ledgered, staff
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P9", "P11")

__all__ = ["ftp_world"]  # the fixture, imported to be found
T = TypeVar("T")


def entries(w: FtpWorld, actor_id: str) -> list[AuditEntry]:
    return [e for e in ledgered(w.c) if e.actor_id == actor_id]


def test_staff_without_a_grant_are_refused_and_ledgered_under_the_case(
    ftp_world: FtpWorld,
) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    case = w.c.cases.open(sam, who.contract_id, "Backup restore fails")
    with pytest.raises(ftplib.error_perm, match="530 Refused by rule ftp-space-closed-to-staff"):
        w.login(f"{who.name}*sam", PASSWORD)
    last = entries(w, sam.id)[-1]
    assert (last.decision, last.rule, last.resource_id, last.owner, last.refs.get("case")) == (
        "deny",
        "ftp-space-closed-to-staff",
        who.space_id,
        who.id,
        case.id,
    )
    # A wrong staff password: refused before the rules, ledgered as the server's attempt.
    with pytest.raises(ftplib.error_perm, match="530"):
        w.login(f"{who.name}*sam", "not sam's password")
    last = ledgered(w.c)[-1]
    assert (last.actor_id, last.decision, last.rule, last.refs.get("case")) == (
        "ftp_server",
        "deny",
        "ftp.staff-unauthenticated",
        case.id,
    )
    assert not (w.root / who.name).exists()  # nobody got in, so nothing was made


def test_a_read_only_grant_lets_staff_read_once_and_refuses_writes(ftp_world: FtpWorld) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    mine = w.login(who.name, who.password)
    mine.storbinary("STOR db.sql", io.BytesIO(b"dump"))
    mine.quit()
    case_id, grant_id = w.grant(sam, who, read_only=True)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    assert ftp.nlst() == ["db.sql"]
    got = io.BytesIO()
    ftp.retrbinary("RETR db.sql", got.write)
    assert got.getvalue() == b"dump"
    for write in (
        lambda: ftp.storbinary("STOR planted.txt", io.BytesIO(b"x")),
        lambda: ftp.delete("db.sql"),
        lambda: ftp.rename("db.sql", "moved.sql"),
        lambda: ftp.mkd("new"),
    ):
        with pytest.raises(ftplib.error_perm, match="550 Read-only"):
            write()
    assert sorted(p.name for p in (w.root / who.name).iterdir()) == ["db.sql"]
    ftp.quit()
    steps = [(e.decision, e.rule, e.refs.get("note")) for e in entries(w, sam.id)]
    assert ("allow", "staff-enter-ftp-under-grant", "ftp nlst") in steps
    assert ("allow", "staff-enter-ftp-under-grant", "ftp retr") in steps
    refusals = [s for s in steps if s[1] == "ftp.read-only"]
    assert len(refusals) == 4
    in_session = [e for e in entries(w, sam.id) if e.refs.get("note", "").startswith("ftp ")]
    assert len(in_session) == 6  # nlst, retr and the four refused writes
    assert {(e.refs.get("case"), e.refs.get("grant")) for e in in_session} == {(case_id, grant_id)}
    # One-off means one-off: logging out closed the only session, which ended the grant.
    ended = wait_for(lambda: w.c.grants.get(sam, grant_id).end_reason)
    assert ended is GrantEnd.USED
    with pytest.raises(ftplib.error_perm, match="530 Refused by rule ftp-space-closed-to-staff"):
        w.login(f"{who.name}*sam", PASSWORD)
    assert entries(w, sam.id)[-1].refs.get("case") == case_id


def closed(ftp: ftplib.FTP_TLS) -> bool | None:
    """True once the server has closed the connection (421, or the socket gone)."""
    try:
        ftp.voidcmd("NOOP")
    except (ftplib.error_temp, EOFError, OSError):
        return True
    return None


def wait_for(probe: Callable[[], T | None], seconds: float = 5) -> T | None:
    """What `probe` returns once it is not None (the server closes sessions in its thread)."""
    deadline = time.monotonic() + seconds
    while (found := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_a_grant_that_ends_closes_the_open_staff_session(ftp_world: FtpWorld) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    _, grant_id = w.grant(sam, who, read_only=False, sessions=2)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    ftp.storbinary("STOR fixed.conf", io.BytesIO(b"fixed"))  # a read-write grant writes
    assert (w.root / who.name / "fixed.conf").read_bytes() == b"fixed"
    w.c.grants.revoke(customer(who.id), grant_id)
    assert wait_for(lambda: closed(ftp)) is True  # closed at once, not at its next login
    ftp.close()
    with pytest.raises(ftplib.error_perm, match="530"):
        w.login(f"{who.name}*sam", PASSWORD)  # a session was left, but the grant has ended


def test_a_grant_ended_by_another_process_blocks_the_next_command(ftp_world: FtpWorld) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    mine = w.login(who.name, who.password)
    mine.storbinary("STOR notes.txt", io.BytesIO(b"notes"))
    mine.quit()
    case_id, grant_id = w.grant(sam, who, read_only=True)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    assert ftp.nlst() == ["notes.txt"]
    api = build(w.c.settings, clock=w.c.clock)  # the API's process: its events stay there
    try:
        api.grants.revoke(customer(who.id), grant_id)
    finally:
        api.close()
    with pytest.raises(ftplib.error_temp, match="421 The grant of this session has ended"):
        ftp.nlst()
    ftp.close()
    gone = entries(w, sam.id)[-2:]
    assert [(e.decision, e.rule, e.refs.get("note")) for e in gone] == [
        ("deny", "ftp-space-closed-to-staff", "ftp nlst"),
        ("deny", "ftp.grant-gone", "ftp nlst"),
    ]
    assert {e.refs.get("case") for e in gone} == {case_id}


def test_a_session_closed_through_the_api_ends_the_ftp_connection(ftp_world: FtpWorld) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    _, grant_id = w.grant(sam, who, read_only=True, sessions=2)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    with w.c.uow() as uow:
        (session,) = uow.grants.open_sessions(grant_id)  # type: ignore[attr-defined]
    w.c.grants.end_session(sam, session.id)  # sam logs out at the API
    assert wait_for(lambda: closed(ftp)) is True
    ftp.close()
    assert w.c.grants.get(sam, grant_id).ended_at is None  # a second session is left


def test_a_new_login_on_the_connection_closes_the_session_before_it(ftp_world: FtpWorld) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    _, grant_id = w.grant(sam, who, read_only=True, sessions=3)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    ftp.login(f"{who.name}*sam", PASSWORD)  # USER/PASS again on the same connection
    with w.c.uow() as uow:
        still_open = uow.grants.open_sessions(grant_id)  # type: ignore[attr-defined]
    assert len(still_open) == 1  # the first one was closed, not left open until the grant ends
    ftp.quit()


def test_only_the_ftp_server_asks_for_a_login(ftp_world: FtpWorld) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    for caller, user in ((customer(who.id), who.name), (sam, f"{who.name}*sam")):
        with pytest.raises(Refused) as caught:
            w.c.ftp_login.login(caller, user, who.password, "192.0.2.1")
        assert caught.value.decision.rule_id == "ftp.server-only"
        last = ledgered(w.c)[-1]
        assert (last.actor_id, last.decision, last.rule, last.owner) == (
            caller.id,
            "deny",
            "ftp.server-only",
            None,  # a caller that is not the server learns nothing of the space
        )
