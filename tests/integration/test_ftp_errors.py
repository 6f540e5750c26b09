"""What the FTPS server does with an error its door did not foresee (issue 14, P9): the
client gets a clean `4xx`/`550` and the connection closes, and nothing logged names the
login (`office-backup*sam`) or a file of the space. A real pyftpdlib server on a loopback port
with `ftplib.FTP_TLS`; the door is a small stand-in that raises where asked."""

from __future__ import annotations

import ftplib
import logging
import random
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import structlog

from entrusted.adapters.ftp.server import (
    SERVER,
    FtpServerConfig,
    IOLoop,
    LiveSessions,
    build_server,
    serve_in_thread,
)
from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.domain.policy import Actor, ActorKind, Resource, ResourceKind
from entrusted.errors import NotFound
from entrusted.services.ftp_login import FtpSession
from tests.integration.ftp_world import free_port

pytestmark = pytest.mark.promise("P9")

USER = "office-backup*sam"
FILE = "invoice-2026-secret.pdf"


class FailingDoor:
    """Lets every login in (into `root`); `step` raises NotFound, as a door might."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.left: list[FtpSession] = []

    def login(self, caller: Actor, username: str, password: str, remote_ip: str) -> FtpSession:
        resource = Resource(ResourceKind.FTP_SPACE, "svc_1", owner="cus_1")
        return FtpSession(Actor(ActorKind.CUSTOMER, "cus_1"), resource, "ctr_1", str(self.root),
                          False, None, "mark")  # fmt: skip

    def step(self, session: FtpSession, command: str, name: str | None = None) -> bool:
        raise NotFound("grant session", "gss_1")

    def refuse_write(self, session: FtpSession, command: str) -> None:
        return None

    def still_live(self, session: FtpSession) -> bool:
        return True

    def logout(self, server: Actor, session: FtpSession) -> None:
        assert server == SERVER
        self.left.append(session)


@contextmanager
def serving(door: FailingDoor, tmp_path: Path) -> Iterator[ftplib.FTP_TLS]:
    cert, key = tmp_path / "ftp.crt", tmp_path / "ftp.key"
    write_selfsigned(cert, key, "127.0.0.1")
    low = random.randrange(20000, 60000, 100)
    config = FtpServerConfig("127.0.0.1", free_port(), cert, key, range(low, low + 100),
                             auth_failed_delay_s=0.0)  # fmt: skip
    halt = serve_in_thread(build_server(config, door, LiveSessions(), IOLoop()))
    ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(cert)), timeout=10)
    try:
        ftp.connect("127.0.0.1", config.port)
        yield ftp
    finally:
        ftp.close()
        halt()


def logged(caplog: pytest.LogCaptureFixture, events: list[dict[str, object]], err: str) -> str:
    return caplog.text + repr(events) + err


def test_a_door_error_closes_cleanly_and_logs_no_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    door = FailingDoor(tmp_path / "space")
    with structlog.testing.capture_logs() as events, serving(door, tmp_path) as ftp:
        ftp.login(USER, "pw")
        with pytest.raises(ftplib.error_temp, match=r"^421 "):
            ftp.sendcmd(f"RETR {FILE}")
        with pytest.raises((EOFError, OSError, ftplib.Error)):
            ftp.voidcmd("NOOP")  # the connection is closed
    text = logged(caplog, events, capfd.readouterr().err)
    assert "NotFound" in text  # the error is logged, by its type
    assert "office-backup" not in text
    assert FILE not in text
    assert len(door.left) == 1  # the session was closed with the connection


def test_a_space_directory_that_cannot_be_made_refuses_the_login_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "not-a-dir").write_bytes(b"")
    door = FailingDoor(tmp_path / "not-a-dir" / "office-backup")  # mkdir: NotADirectoryError
    with (
        structlog.testing.capture_logs() as events,
        serving(door, tmp_path) as ftp,
        pytest.raises(ftplib.error_perm, match=r"^550 "),
    ):
        ftp.login(USER, "pw")
    text = logged(caplog, events, capfd.readouterr().err)
    assert "NotADirectoryError" in text
    assert "office-backup" not in text
    assert "not-a-dir" not in text
    assert len(door.left) == 1  # the session the door opened is closed again
