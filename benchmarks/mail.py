"""Mail: the metadata monitor against the fastest names-only walk over the same synthetic
Maildir (100,000 messages in 20 folders: `os.listdir` on bytes paths, no `is_dir()`, no
`stat()`); doveadm's status of the same mailbox, cold (first run: Dovecot builds its index) and
warm (median of repeats), whose totals must equal the monitor's; and IMAP logins against a real
private Dovecot: customers from a passwd-file with a real argon2id hash, staff through
Entrusted's Lua passdb (the gate, a grant session consumed and ledgered each time). For each
kind of login the first one (nothing cached in Python or the kernel yet) is reported beside the
median of the ones after it.

The monitor with the `doveadm` backend (`doveadm_backend_ms`: gate, ledger and one `doveadm
mailbox status`, warm) is reported beside its peer `doveadm_bare_ms`: the very argument list
the backend runs, started directly with subprocess, warm, same mailbox; their totals must
equal the Maildir monitor's.

Targets: monitor <= 1.3x the listdir floor and faster than doveadm cold (like the monitor,
a look without an index; doveadm warm reads the index its first run built, and is reported for
context); staff login <= 2x the customer login. Without Dovecot, the Dovecot figures are null."""

from __future__ import annotations

import email
import email.policy
import imaplib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dovecot import ApiServer, PrivateDovecot, build_maildir, dovecot_binary, private_dovecot
from _floors import floors
from entrusted.adapters.mail.doveadm_status import Doveadm, DoveadmMailboxes, status_argv
from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.crypto.secrets import hash_password
from entrusted.domain.mail import MailboxMetadata
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.api.app import create_app
from entrusted.services.registry_forms import Registration, ServiceRequest

ADDRESS = "bench@example.org"
CUSTOMER_PW = "bench-customer-pw"
STAFF_PW = "bench-staff-password"
LOGINS = 20  # per kind: the first, then LOGINS - 1 for the median (the grant has LOGINS sessions)
# The customers' passdb holds argon2id hashes made exactly as Entrusted hashes staff passwords
# (Dovecot verifies them with libsodium), so the two logins pay the same password check.
CUSTOMER_SCHEME = "ARGON2ID"


def listdir_floor(root: bytes) -> int:
    """The least any listing-based monitor must do: the names in every folder's cur/ and new/,
    as bytes (no decoding), with no `is_dir()` or `stat()`: a dot-name that is not a folder
    just fails its listing. Plain `os` on purpose (pathlib objects per name cost time)."""
    n = 0
    for name in [b"", *(x for x in os.listdir(root) if x.startswith(b"."))]:  # noqa: PTH208
        for sub in (b"cur", b"new"):
            try:
                n += len(os.listdir(os.path.join(root, name, sub)))  # noqa: PTH118, PTH208
            except (FileNotFoundError, NotADirectoryError):
                continue
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


def _first_and_median(port: int, user: str, password: str) -> tuple[float, float]:
    times = [_login_ms(port, user, password) for _ in range(LOGINS)]
    return round(times[0], 2), round(statistics.median(times[1:]), 2)


def _last_link(c: Container) -> str:
    """The token in the newest e-mail the `directory` transport wrote (the holder's link)."""
    folder = c.settings.effective_message_dir / "mail"
    newest = max(folder.glob("*.eml"), key=lambda p: p.name)
    message = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    text: str = body.get_content()  # type: ignore[attr-defined]
    return text.split("#token=")[1].split(maxsplit=1)[0]


def _world(c: Container) -> tuple[Actor, str]:
    """A customer with the mailbox, a support agent with a LOGINS-session grant on it."""
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
    req = c.consent.request(
        support, case.id, mailbox, "Benchmark of staff logins.", sessions=LOGINS
    )
    c.consent.approve(Actor(ActorKind.CUSTOMER, done.customer_id), req.id, _last_link(c))
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
        grant_max_sessions=LOGINS,
        mail_transport="directory",  # the holder's approval link is read back from its file
    )
    initialise(settings)
    c = build(settings)
    result: dict[str, Any] = {"messages": messages, "folders": folders, **floors(None, quick)}
    try:
        support, _ = _world(c)
        local, _, domain = ADDRESS.partition("@")
        root = base / "mail" / domain / local / "Maildir"
        build_maildir(root, messages, folders)
        meta = c.mailbox_monitor.metadata(support, ADDRESS)
        assert meta.messages == messages == listdir_floor(os.fsencode(root))
        result["listdir_floor_ms"] = _median_ms(lambda: listdir_floor(os.fsencode(root)), repeats)
        result["monitor_ms"] = _median_ms(
            lambda: c.mailbox_monitor.metadata(support, ADDRESS), repeats
        )
        result.update(dict.fromkeys(DOVECOT_FIGURES))
        if dovecot_binary() is not None:
            result.update(_dovecot_figures(c, support, base, meta, repeats))
    finally:
        c.close()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    result["monitor_vs_floor"] = round(result["monitor_ms"] / result["listdir_floor_ms"], 2)
    if result["customer_login_ms"]:
        result["staff_vs_customer"] = round(
            result["staff_login_ms"] / result["customer_login_ms"], 2
        )
    return result


DOVECOT_FIGURES = (
    "doveadm_cold_ms",
    "doveadm_warm_ms",
    "doveadm_matches_monitor",
    "doveadm_backend_ms",
    "doveadm_bare_ms",
    "customer_passdb_scheme",
    "customer_login_first_ms",
    "customer_login_ms",
    "staff_login_first_ms",
    "staff_login_ms",
)


def _doveadm_status(server: PrivateDovecot) -> tuple[float, tuple[int, int]]:
    """One `doveadm mailbox status` over every folder: (ms, (messages, vsize) summed)."""
    started = time.perf_counter()
    done = server.doveadm(
        "-f", "tab", "mailbox", "status", "-u", ADDRESS, "messages vsize", "*", timeout=300
    )
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"doveadm mailbox status failed: {done.stderr.strip()}")
    header, *lines = done.stdout.splitlines()
    columns = header.split("\t")  # doveadm adds the mailbox name when asked for "*"
    at_messages, at_vsize = columns.index("messages"), columns.index("vsize")
    rows = [line.split("\t") for line in lines if line.strip()]
    return elapsed, (sum(int(r[at_messages]) for r in rows), sum(int(r[at_vsize]) for r in rows))


def _backend_figures(
    c: Container, support: Actor, server: PrivateDovecot, meta: MailboxMetadata, repeats: int
) -> dict[str, float]:
    """The monitor over the doveadm backend and its peer, the same doveadm argv run bare."""
    doveadm = Doveadm("doveadm", server.base / "etc" / "dovecot.conf", timeout_s=300)
    monitor = c.mailbox_monitor.reading_with(DoveadmMailboxes(doveadm))
    got = monitor.metadata(support, ADDRESS)
    if (got.messages, got.vbytes) != (meta.messages, meta.vbytes):
        raise RuntimeError("the doveadm backend's totals differ from the Maildir monitor's")
    argv = status_argv(doveadm, ADDRESS)
    return {
        "doveadm_backend_ms": _median_ms(lambda: monitor.metadata(support, ADDRESS), repeats),
        "doveadm_bare_ms": _median_ms(
            lambda: subprocess.run(argv, capture_output=True, check=True), repeats
        ),
    }


def _dovecot_figures(
    c: Container, support: Actor, base: Path, meta: MailboxMetadata, repeats: int
) -> dict[str, Any]:
    hook = c.staff.issue_service_token("mail_hook", "bench").secret
    api = ApiServer(create_app(container=c)).start()
    try:
        with private_dovecot(api.url + "/v1/gate/mail-login", hook, base) as server:
            # also hands the Maildir to Dovecot's user
            stored = f"{{{CUSTOMER_SCHEME}}}{hash_password(CUSTOMER_PW)}"
            server.add_customer(ADDRESS, CUSTOMER_PW, stored)
            cold, totals = _doveadm_status(server)  # no index yet: Dovecot builds it
            warm = [_doveadm_status(server) for _ in range(repeats)]
            backend = _backend_figures(c, support, server, meta, repeats)
            customer = _first_and_median(server.port, ADDRESS, CUSTOMER_PW)
            staff = _first_and_median(server.port, f"{ADDRESS}*bench.support", STAFF_PW)
    finally:
        api.stop()
    return {
        "doveadm_cold_ms": round(cold, 1),
        "doveadm_warm_ms": round(statistics.median(ms for ms, _ in warm), 1),
        "doveadm_matches_monitor": all(
            t == totals == (meta.messages, meta.vbytes) for _, t in warm
        ),
        **backend,
        "customer_passdb_scheme": CUSTOMER_SCHEME,
        "customer_login_first_ms": customer[0],
        "customer_login_ms": customer[1],
        "staff_login_first_ms": staff[0],
        "staff_login_ms": staff[1],
    }
