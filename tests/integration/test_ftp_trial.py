"""Findings of the outside trial of the FTP backup space (issue 14), on the real FTPS server
(in-process door) and the real API, on SQLite and PostgreSQL: customers cannot chmod; a new
FTP password ends open customer sessions; listings never show where a link points; a
read-only session is told read-only perms; a malformed space id or a password with control
characters is 422."""

from __future__ import annotations

import ftplib
import io
import stat
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from entrusted.entrypoints.api.app import create_app
from tests.integration.ftp_world import FtpWorld, ftp_world
from tests.integration.test_ftp_password import put, stored, token
from tests.integration.test_registry_sql import PASSWORD, ledgered, staff

pytestmark = pytest.mark.promise("P9")

__all__ = ["ftp_world"]  # the fixture, imported to be found

NEW = "a brand new ftp password 42"


@pytest.fixture
def client(ftp_world: FtpWorld) -> Iterator[TestClient]:
    with TestClient(create_app(container=ftp_world.c)) as c:
        yield c


def test_a_customer_cannot_change_modes(ftp_world: FtpWorld) -> None:
    w = ftp_world
    who = w.customer(1)
    ftp = w.login(who.name, who.password)
    ftp.storbinary("STOR tool", io.BytesIO(b"#!/bin/sh"))
    space = w.root / who.name
    before = (stat.S_IMODE(space.stat().st_mode), stat.S_IMODE((space / "tool").stat().st_mode))
    for command in ("SITE CHMOD 777 /", "SITE CHMOD 4755 tool", "SITE CHMOD 644 tool"):
        with pytest.raises(ftplib.error_perm, match="550 Not enough privileges"):
            ftp.sendcmd(command)
    after = (stat.S_IMODE(space.stat().st_mode), stat.S_IMODE((space / "tool").stat().st_mode))
    assert after == before
    assert before[0] == 0o700
    assert "M" not in ftp.sendcmd("MLST tool").split("perm=")[1].split(";")[0]
    ftp.quit()


def test_a_new_ftp_password_ends_open_customer_sessions(
    ftp_world: FtpWorld, client: TestClient
) -> None:
    w = ftp_world
    who = w.customer(1)
    thief = w.login(who.name, who.password)
    thief.storbinary("STOR before.txt", io.BytesIO(b"x"))
    assert put(client, who.space_id, token(client, 1, who), NEW).status_code == 204
    with pytest.raises(ftplib.error_temp, match="421"):
        thief.nlst()
    thief.close()
    gone = ledgered(w.c)[-1]
    assert (gone.actor_id, gone.decision, gone.rule) == (who.id, "deny", "ftp.space-gone")
    assert "password" in gone.reason
    fresh = w.login(who.name, NEW)
    assert fresh.nlst() == ["before.txt"]
    fresh.quit()


def test_listings_never_show_where_a_link_points(ftp_world: FtpWorld) -> None:
    w = ftp_world
    one, two = w.customer(1), w.customer(2)
    sam = staff(w.c, "sam", "support")
    ftp = w.login(one.name, one.password)
    ftp.storbinary("STOR mine.txt", io.BytesIO(b"mine"))
    (w.root / two.name).mkdir(parents=True, exist_ok=True)
    (w.root / one.name / "linkdir").symlink_to(w.root / two.name)
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    listing = "\n".join(lines) + ftp.sendcmd("STAT /")
    mlsd = [name for name, _ in ftp.mlsd()]
    assert "linkdir" in listing
    assert "linkdir" in mlsd
    for leak in ("->", str(w.root), two.name):
        assert leak not in listing
    with pytest.raises(ftplib.error_perm) as refused:
        ftp.cwd("linkdir")
    assert str(refused.value) == "550 No such file or directory."
    ftp.quit()
    w.grant(sam, one, read_only=True)
    theirs = w.login(f"{one.name}*sam", PASSWORD)
    lines.clear()
    theirs.retrlines("LIST", lines.append)
    assert "->" not in "\n".join(lines)
    assert two.name not in "\n".join(lines)
    theirs.quit()


def test_a_read_only_session_is_told_read_only_perms(ftp_world: FtpWorld) -> None:
    w = ftp_world
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    mine = w.login(who.name, who.password)
    mine.storbinary("STOR db.sql", io.BytesIO(b"dump"))
    mine.quit()
    w.grant(sam, who, read_only=True)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    assert "perm=r;" in ftp.sendcmd("MLST db.sql")
    assert "perm=el;" in ftp.sendcmd("MLST /")
    ftp.quit()


def test_a_malformed_space_id_or_a_control_character_is_422(
    ftp_world: FtpWorld, client: TestClient
) -> None:
    w = ftp_world
    one = w.customer(1)
    mine = token(client, 1, one)
    r = put(client, "alice@example.com", mine, NEW)
    assert r.status_code == 422, r.text
    assert "alice@example.com" not in r.text
    last = ledgered(w.c)[-1]
    assert (last.actor_id, last.decision, last.rule, last.resource_id) == (
        one.id,
        "deny",
        "gate.invalid-request",
        "invalid",
    )
    before = stored(w, one.space_id)
    for bad in (NEW + "\x00", "a long\npassword here", "tab\tin a long password"):
        r = put(client, one.space_id, mine, bad)
        assert r.status_code == 422, r.text
    assert stored(w, one.space_id) == before
