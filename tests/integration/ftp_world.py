"""Shared by the FTP tests: an Entrusted installation (SQLite file or PostgreSQL, per the
`settings` fixture) with its real FTPS server on a free loopback port, in a thread, and
Python's `ftplib.FTP_TLS` client verifying the server's self-signed certificate."""

from __future__ import annotations

import ftplib
import random
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.bootstrap import Container, build, ftp_server, ftp_tls_files
from entrusted.config import Settings
from entrusted.domain.policy import Actor
from tests.conftest import FakeClock
from tests.installations import Installations
from tests.integration.test_consent_sql import FTP_NAME, WHY, link, register
from tests.integration.test_customer_sessions import reset_link
from tests.unit.registry_world import customer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FtpCustomer:
    id: str
    contract_id: str
    space_id: str
    name: str
    password: str  # the space's FTP password
    account_password: str  # the customer account's, which the FTP login does not take


@dataclass
class FtpWorld:
    c: Container
    port: int
    cert: Path
    root: Path

    def customer(self, n: int) -> FtpCustomer:
        cus, ctr, svc = register(self.c, n)
        account = f"customer {n} password 1234"
        self.c.customer_auth.set_password(reset_link(self.c, cus), account)
        password = f"ftp space {n} password 5678"
        self.c.ftp_passwords.set(customer(cus), svc["ftp_space"], password)
        return FtpCustomer(cus, ctr, svc["ftp_space"], f"{FTP_NAME}{n}", password, account)

    def grant(
        self, support: Actor, who: FtpCustomer, *, read_only: bool, sessions: int = 1
    ) -> tuple[str, str]:
        """An approved grant for `support` on `who`'s FTP space: (case id, grant id)."""
        case = self.c.cases.open(support, who.contract_id, "Backup restore fails")
        req = self.c.consent.request(
            support, case.id, who.space_id, WHY, read_only=read_only, sessions=sessions
        )
        grant = self.c.consent.approve(customer(who.id), req.id, link(self.c))
        return case.id, grant.id

    def client(self) -> ftplib.FTP_TLS:
        """A connected client, not logged in; `login` sends AUTH TLS first."""
        context = ssl.create_default_context(cafile=str(self.cert))
        ftp = ftplib.FTP_TLS(context=context, timeout=10)
        ftp.connect("127.0.0.1", self.port)
        return ftp

    def login(self, user: str, password: str) -> ftplib.FTP_TLS:
        ftp = self.client()
        try:
            ftp.login(user, password)
            ftp.prot_p()
        except BaseException:
            ftp.close()
            raise
        return ftp


@pytest.fixture
def ftp_world(
    settings: Settings, clock: FakeClock, tmp_path: Path, installations: Installations
) -> Iterator[FtpWorld]:
    low = random.randrange(20000, 60000, 100)
    port = free_port()
    ftp_settings = settings.model_copy(
        update={
            "ftp_bind_port": port,
            "ftp_passive_ports": f"{low}-{low + 99}",
            "ftp_root_template": str(tmp_path / "ftp" / "%n"),
            "ftp_auth_failed_delay_s": 0.0,
            "ftp_session_check_s": 60.0,  # the tests see sessions closed by the event
        }
    )
    installations.install(ftp_settings)
    cert, key = ftp_tls_files(ftp_settings)
    write_selfsigned(cert, key, "127.0.0.1")
    c = build(ftp_settings, clock=clock)
    server = ftp_server(c)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=run, name="ftps", daemon=True)
    thread.start()
    try:
        yield FtpWorld(c, port, cert, tmp_path / "ftp")
    finally:
        stop.set()
        thread.join(timeout=10)
        c.close()
