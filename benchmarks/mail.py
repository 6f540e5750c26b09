"""Mail: the metadata monitor against a bare names-only `os.scandir` walk over the same
synthetic Maildir (100,000 messages in 20 folders), doveadm's first (cold) status run, and
the median of 20 customer and 20 staff IMAP logins against a real private Dovecot whose staff
passdb is Entrusted's Lua script (the gate, a grant session consumed and ledgered each time).

Targets: monitor <= 1.3x the scandir floor and faster than doveadm cold; staff login <= 2x
the customer login. Without Dovecot, the Dovecot figures are null."""

from __future__ import annotations

import imaplib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dovecot import ApiServer, build_maildir, dovecot_binary, private_dovecot
from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.api.app import create_app
from entrusted.services.memory_mail import InMemoryMailer
from entrusted.services.registry_forms import Registration, ServiceRequest

ADDRESS = "bench@example.org"
CUSTOMER_PW = "bench-customer-pw"
STAFF_PW = "bench-staff-password"
LOGINS = 20


def scandir_floor(root: str) -> int:
    """The least any listing-based monitor must do: list every folder's cur/ and new/."""
    n = 0
    for name in ["", *(e.name for e in os.scandir(root) if e.name.startswith(".") and e.is_dir())]:
        for sub in ("cur", "new"):
            path = os.path.join(root, name, sub)  # noqa: PTH118 - the floor is plain os
            with os.scandir(path) as it:
                for _ in it:
                    n += 1
    return n


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm the page cache and the code paths
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _login_ms(port: int, user: str, password: str) -> float:
    started = time.perf_counter()
    conn = imaplib.IMAP4("127.0.0.1", port, timeout=15)
    conn.login(user, password)
    elapsed = (time.perf_counter() - started) * 1000
    conn.logout()
    return elapsed


def _world(c: Container) -> tuple[Actor, str]:
    """A customer with the mailbox, a support agent with a 20-session grant on it."""
    done = c.registry.register(
        Actor(ActorKind.SERVICE, "signup"),
        Registration("Muster", "Bench", "bench.holder@example.com", "044 000 00 01", None,
                     (ServiceRequest("mailbox", ADDRESS),)),
    )  # fmt: skip
    assert done.contract_id is not None
    member = c.staff.add("bench.support", "Bench Support", ["support"], STAFF_PW)
    support = Actor(ActorKind.STAFF, member.id, member.roles)
    contract = c.contracts.get(Actor(ActorKind.CUSTOMER, done.customer_id), done.contract_id)
    mailbox = contract.services[0].id
    case = c.cases.open(support, done.contract_id, "Benchmark")
    req = c.consent.request(support, case.id, mailbox, "Benchmark of staff logins.", sessions=20)
    mailer = c.mailer
    assert isinstance(mailer, InMemoryMailer)
    token = mailer.sent[-1].body.split("#token=")[1].split()[0]
    c.consent.approve(Actor(ActorKind.CUSTOMER, done.customer_id), req.id, token)
    return support, done.customer_id


def run(quick: bool = False) -> dict[str, Any]:
    messages, folders = (5_000, 20) if quick else (100_000, 20)
    repeats = 3 if quick else 7
    scratch = Path(tempfile.mkdtemp(prefix="entrusted-bench-mail-"))
    base = Path(tempfile.mkdtemp(prefix="entrusted-dovecot-"))
    settings = Settings(
        data_dir=scratch / "data",
        database_url=f"sqlite:///{scratch / 'bench.db'}",
        mail_root_template=str(base / "mail" / "%d" / "%n" / "Maildir"),
        grant_max_sessions=20,
    )
    initialise(settings)
    c = build(settings)
    result: dict[str, Any] = {"messages": messages, "folders": folders}
    try:
        support, _ = _world(c)
        local, _, domain = ADDRESS.partition("@")
        root = base / "mail" / domain / local / "Maildir"
        build_maildir(root, messages, folders)
        meta = c.mailbox_monitor.metadata(support, ADDRESS)
        assert meta.messages == messages == scandir_floor(str(root))
        result["scandir_floor_ms"] = _median_ms(lambda: scandir_floor(str(root)), repeats)
        result["monitor_ms"] = _median_ms(
            lambda: c.mailbox_monitor.metadata(support, ADDRESS), repeats
        )
        result.update(doveadm_cold_ms=None, customer_login_ms=None, staff_login_ms=None)
        if dovecot_binary() is not None:
            result.update(_dovecot_figures(c, base))
    finally:
        c.close()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    result["monitor_vs_floor"] = round(result["monitor_ms"] / result["scandir_floor_ms"], 2)
    if result["customer_login_ms"]:
        result["staff_vs_customer"] = round(
            result["staff_login_ms"] / result["customer_login_ms"], 2
        )
    return result


def _dovecot_figures(c: Container, base: Path) -> dict[str, Any]:
    hook = c.staff.issue_service_token("mail_hook", "bench").secret
    api = ApiServer(create_app(container=c)).start()
    try:
        with private_dovecot(api.url + "/v1/gate/mail-login", hook, base) as server:
            server.add_customer(ADDRESS, CUSTOMER_PW)  # also hands the Maildir to Dovecot's user
            started = time.perf_counter()
            status = server.doveadm("mailbox", "status", "-u", ADDRESS, "messages vsize", "*")
            cold = (time.perf_counter() - started) * 1000
            customer = [_login_ms(server.port, ADDRESS, CUSTOMER_PW) for _ in range(LOGINS)]
            staff = [
                _login_ms(server.port, f"{ADDRESS}*bench.support", STAFF_PW) for _ in range(LOGINS)
            ]
    finally:
        api.stop()
    return {
        "doveadm_cold_ms": round(cold, 1) if status.returncode == 0 else None,
        "customer_login_ms": round(statistics.median(customer), 2),
        "staff_login_ms": round(statistics.median(staff), 2),
    }
