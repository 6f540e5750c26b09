"""Load: 64 concurrent HTTP clients against `entrusted serve` with its worker (issue 10).

What an operator's default install meets on a busy day, measured from outside the process:

1. a scratch installation (a temp SQLite file, or a private schema on the PostgreSQL server
   given by URL, dropped afterwards) is filled in-process with support staff (password and
   personal token each), customers (password set through the link, a mailbox contract, a
   customer token) and one approved access grant per staff member;
2. `entrusted serve` starts as a real subprocess on a free loopback port, WITH its worker (the
   checkpoint and grant-expiry jobs run every second here, not every 2 s / 60 s, so their writes
   meet the requests more often than in production);
3. 64 clients, for `seconds` (default 60), each cycle through: staff login (argon2), customer
   login (argon2), `POST /v1/identifications` (an e-mailed code), a support search of a caller
   by e-mail and a customer reading their own record (two gate decisions with durable ledger
   appends), and a session under a grant (the gate, then a consumed session; once a grant's
   sessions are used up the refusals are ledgered 403s, still a decision per request).

Reported: `requests`, `errors_5xx` (must be 0: contention waits, retries or answers 503 with
Retry-After, and a 503 is counted here too), `errors_transport` (timeouts, resets), `p99_ms`,
`rps`, per-kind counts, p99 and statuses, and `server_tracebacks` (unhandled errors the server
logged). The fake people use example.com addresses and +41 44 000 xx xx numbers.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.bootstrap import Container, scratch_installation
from entrusted.domain.policy import Actor, ActorKind
from entrusted.services.registry import Registered
from entrusted.services.registry_forms import Registration, ServiceRequest

_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # no package to import
CLIENTS = 64
STAFF = 8
CUSTOMERS = 16
PASSWORD = "load-bench-password-1"
SIGNUP = Actor(ActorKind.SERVICE, "signup")
KINDS = (
    "staff_login",
    "customer_search",
    "identification",
    "own_record",
    "customer_login",
    "grant_use",
)
STARTUP_S = 60.0
# Messages go to files under the scratch data dir (nothing leaves the machine), and staff log
# in with a password alone: a TOTP code works once per 30 s step, which would turn most staff
# logins into refusals that never reach argon2.
SCRATCH_SETTINGS = {
    "ENTRUSTED_MAIL_TRANSPORT": "directory",
    "ENTRUSTED_SMS_TRANSPORT": "directory",
    "ENTRUSTED_STAFF_TOTP_REQUIRED": "false",
    # the load mix searches far faster than a person; the throttle is tested elsewhere
    "ENTRUSTED_SUPPORT_LOOKUPS_PER_MINUTE": "600",
    # likewise the codes one customer may receive in an hour (16 customers, 64 clients)
    "ENTRUSTED_IDENTIFICATION_CODES_PER_HOUR": "100",
}


class Fixture:
    """What the clients use: credentials and tokens made before the server starts. (A plain
    class: `entrusted bench` loads this file outside sys.modules, where @dataclass fails.)"""

    def __init__(self) -> None:
        self.staff: list[tuple[str, str]] = []  # (username, token)
        self.customers: list[tuple[str, str, str]] = []  # (id, email, customer token)
        self.grants: list[tuple[str, str]] = []  # (grant id, the agent's token)


def _link(c: Container) -> str:
    """The token of the last link e-mailed (the `directory` transport keeps every mail)."""
    mailer: Any = c.mailer
    sent = mailer.written() if hasattr(mailer, "written") else getattr(mailer, "sent", [])
    if not sent:
        raise RuntimeError("no e-mail was written: is the `directory` mail transport in use?")
    body: str = sent[-1].body
    return body.split("#token=")[1].split(maxsplit=1)[0]


@contextmanager
def _settings_env(values: dict[str, str]) -> Iterator[None]:
    """Settings for the scratch installation that `scratch_installation` does not take as
    arguments, given the way an operator would: as ENTRUSTED_* variables (restored after)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _prepare(c: Container, staff: int, customers: int) -> Fixture:
    c.ledger.start()
    fixture = Fixture()
    agents = []
    for n in range(staff):
        member = c.staff.add(f"load.support{n}", f"Load Support {n}", ["support"], PASSWORD)
        token = c.staff.issue_token(member.username, "load benchmark").secret
        fixture.staff.append((member.username, token))
        agents.append((Actor(ActorKind.STAFF, member.id, member.roles), token))
    for n in range(customers):
        email = f"load.customer{n}@example.com"
        registered = c.registry.register(
            SIGNUP,
            Registration(
                last_name=f"Customer{n}",
                first_name="Load",
                email=email,
                phone=f"+41 44 000 {n // 100:02d} {n % 100:02d}",
                services=(ServiceRequest("mailbox", f"box{n}@example.net"),),
            ),
        )
        secret, digest, expires = c.customer_auth.new_link()
        with SqlUnitOfWork(c.engine) as uow:
            uow.customers.set_password_token(registered.customer_id, digest, expires)
            uow.commit()
        c.customer_auth.set_password(secret, PASSWORD)
        login = c.customer_auth.login(email, PASSWORD, "127.0.0.1")
        fixture.customers.append((registered.customer_id, email, login.secret))
        if n < staff:
            fixture.grants.append(_grant(c, agents[n], registered))
    return fixture


def _grant(c: Container, agent: tuple[Actor, str], registered: Registered) -> tuple[str, str]:
    holder = Actor(ActorKind.CUSTOMER, registered.customer_id)
    assert registered.contract_id is not None
    contract = c.contracts.get(holder, registered.contract_id)
    mailbox = contract.services[0].id
    case = c.cases.open(agent[0], registered.contract_id, "Load benchmark: mailbox check")
    request = c.consent.request(agent[0], case.id, mailbox, "Load benchmark.", read_only=True)
    grant = c.consent.approve(holder, request.id, _link(c))
    return grant.id, agent[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(c: Container, port: int, log: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ENTRUSTED_")}
    env.update(
        SCRATCH_SETTINGS,
        ENTRUSTED_DATA_DIR=str(c.settings.data_dir),
        ENTRUSTED_DATABASE_URL=c.settings.effective_database_url,
        ENTRUSTED_LOG_LEVEL="WARNING",
        ENTRUSTED_CHECKPOINT_INTERVAL_S="1",
        ENTRUSTED_GRANTS_EXPIRE_INTERVAL_S="1",
    )
    command = Path(sys.executable).with_name("entrusted")
    return subprocess.Popen(
        [str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("serve exited early:\n" + log_path.read_text(errors="replace"))
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"serve did not answer within {STARTUP_S} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


async def _one(http: httpx.AsyncClient, fx: Fixture, kind: str, k: int) -> int:
    staff_name, staff_token = fx.staff[k % len(fx.staff)]
    customer_id, email, customer_token = fx.customers[k % len(fx.customers)]
    staff_auth = {"Authorization": f"Bearer {staff_token}"}
    if kind == "staff_login":
        body = {"username": staff_name, "password": PASSWORD}
        r = await http.post("/v1/auth/login", json=body)
    elif kind == "customer_login":
        r = await http.post("/v1/customers/login", json={"email": email, "password": PASSWORD})
    elif kind == "identification":
        body = {"customer_id": customer_id, "method": "email_code"}
        r = await http.post("/v1/identifications", json=body, headers=staff_auth)
    elif kind == "customer_search":
        body = {"email": email, "ticket": f"LOAD-{k}"}  # a look-up names its ticket (P1)
        r = await http.post("/v1/customers/search", json=body, headers=staff_auth)
    elif kind == "own_record":
        headers = {"Authorization": f"Bearer {customer_token}"}
        r = await http.get(f"/v1/customers/{customer_id}", headers=headers)
    else:
        grant_id, agent_token = fx.grants[k % len(fx.grants)]
        headers = {"Authorization": f"Bearer {agent_token}"}
        r = await http.post(f"/v1/grants/{grant_id}/use", headers=headers)
    return r.status_code


async def _drive(
    base: str, fx: Fixture, seconds: float, clients: int
) -> tuple[list[tuple[str, int, float]], Counter[str]]:
    samples: list[tuple[str, int, float]] = []  # (kind, status or 0 for transport error, s)
    failures: Counter[str] = Counter()  # transport errors by exception class
    # A new loopback connection per request (~0.1 ms, nothing beside argon2): a kept-alive
    # one may be reused just as uvicorn closes it after its 5 s idle timeout, and a client
    # loop starved of CPU can let that happen; the request would then fail in the client
    # (ReadError) without the server having seen it.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        deadline = time.monotonic() + seconds

        async def client(n: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                kind = KINDS[(n + i) % len(KINDS)]
                t0 = time.perf_counter()
                try:
                    status = await _one(http, fx, kind, n + i)
                except httpx.TransportError as exc:
                    status = 0
                    failures[type(exc).__name__] += 1
                samples.append((kind, status, time.perf_counter() - t0))
                i += 1

        await asyncio.gather(*(client(n) for n in range(clients)))
    return samples, failures


def _p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1)


def _report(samples: list[tuple[str, int, float]], elapsed: float) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        mine = [(status, s) for k, status, s in samples if k == kind]
        kinds[kind] = {
            "requests": len(mine),
            "p99_ms": _p99_ms([s for _, s in mine]) if mine else 0.0,
            "statuses": {str(k): v for k, v in sorted(Counter(st for st, _ in mine).items())},
        }
    return {
        "requests": len(samples),
        "errors_5xx": sum(1 for _, status, _ in samples if status >= 500),
        "errors_transport": sum(1 for _, status, _ in samples if status == 0),
        "p99_ms": _p99_ms([s for _, _, s in samples]) if samples else 0.0,
        "max_ms": round(max(s for _, _, s in samples) * 1000, 1) if samples else 0.0,
        "rps": round(len(samples) / elapsed, 1),
        "kinds": kinds,
    }


def run(
    database_url: str | None = None,
    quick: bool = False,
    seconds: int | None = None,
    clients: int = CLIENTS,
) -> dict[str, Any]:
    duration = float(seconds if seconds is not None else (5 if quick else 60))
    floors = _floors["floors"](database_url, quick)  # the same run's floors, taken first
    with (
        _settings_env(SCRATCH_SETTINGS),
        scratch_installation(database_url) as c,
        tempfile.TemporaryDirectory(prefix="entrusted-load-") as tmp,
    ):
        fixture = _prepare(
            c, STAFF // 2 if quick else STAFF, CUSTOMERS // 2 if quick else CUSTOMERS
        )
        log_path = Path(tmp) / "serve.log"
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            proc = _serve(c, port, log)
            try:
                _wait_ready(proc, base, log_path)
                started = time.perf_counter()
                samples, failures = asyncio.run(_drive(base, fixture, duration, clients))
                elapsed = time.perf_counter() - started
            finally:
                _stop(proc)
        result = _report(samples, elapsed)
        result["transport_errors"] = dict(failures)
        server_log = log_path.read_text(errors="replace")
        result["server_tracebacks"] = server_log.count("Traceback (most recent call last)")
        result["backend"] = c.engine.dialect.name
        result["seconds"] = duration
        result["clients"] = clients
        result.update(floors)
        return result
