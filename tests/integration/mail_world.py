"""Shared by the Dovecot tests and the mail benchmark's test: an Entrusted installation on a
SQLite file with real time, its API in a thread, and a private Dovecot asking it."""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.domain.policy import Actor
from entrusted.entrypoints.api.app import create_app
from tests.integration.test_consent_sql import WHY, link, register
from tests.unit.registry_world import customer

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """A benchmark module loaded the way `entrusted bench` loads it: from its file."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


dovecot: Any = load_benchmark("_dovecot")


@dataclass
class Customer:
    id: str
    contract_id: str
    mailbox_id: str
    address: str


@dataclass
class MailWorld:
    c: Container
    api: Any
    server: Any

    def customer(self, n: int, password: str) -> Customer:
        cus, ctr, svc = register(self.c, n)
        address = f"{n}reto.rueegsegger@example.org"
        self.server.add_customer(address, password)
        return Customer(cus, ctr, svc["mailbox"], address)

    def grant(
        self, support: Actor, who: Customer, sessions: int = 1, read_only: bool = False
    ) -> tuple[str, str]:
        """An approved grant for `support` on `who`'s mailbox: (case id, grant id)."""
        case = self.c.cases.open(support, who.contract_id, "Webmail error")
        req = self.c.consent.request(
            support, case.id, who.mailbox_id, WHY, read_only=read_only, sessions=sessions
        )
        grant = self.c.consent.approve(customer(who.id), req.id, link(self.c))
        return case.id, grant.id


@contextmanager
def mail_world(tmp: Path, **settings: Any) -> Iterator[MailWorld]:
    base = Path(tempfile.mkdtemp(prefix="entrusted-dovecot-"))  # nobody must reach it
    s = Settings(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'mail.db'}",
        doveadm_path="doveadm",
        doveadm_config=base / "etc" / "dovecot.conf",
        mail_root_template=str(base / "mail" / "%d" / "%n" / "Maildir"),
        mail_transport="directory",  # the access-request link is read back from its file
        **settings,
    )
    initialise(s)
    c = build(s)
    token = c.staff.issue_service_token("mail_hook", "dovecot").secret
    api = dovecot.ApiServer(create_app(container=c)).start()
    try:
        with dovecot.private_dovecot(api.url + "/v1/gate/mail-login", token, base) as server:
            yield MailWorld(c, api, server)
    finally:
        api.stop()
        c.close()
