"""FTP: a download over FTPS through Entrusted's real server against a bare TLS copy of the
same file in the same run (the physical limit here), and customer against staff logins.

On a fresh installation (temp SQLite file, temp space directory, a self-signed certificate),
the FTPS server runs in a thread on a loopback port, exactly as `entrusted ftp serve` builds
it (gate in-process, TLS required on both channels):

1. download: a file of `size_mib` MiB of random bytes in the customer's space, fetched with
   `ftplib.FTP_TLS` (`PROT P`, `RETR` on a passive data connection); the bare TLS copy sends
   the same file over one TLS socket (Python's `ssl`, the same certificate) to a client that
   reads it the same way (both negotiate TLS 1.3 with AES-256-GCM; the FTPS server's side is
   pyOpenSSL's). Both clients read into one preallocated buffer with `recv_into`
   and the SHA-256 is checked after the clock stops, so neither figure carries the cost of a
   sink; the best of five runs of each (two with `quick`), alternated, both timed from
   the connect (TLS handshake included) to the end of the stream;
2. logins: connect, `AUTH TLS`, `USER`/`PASS` until the `230`, for the customer (the space's
   own FTP password) and for a support agent as `space*staff` under a grant with enough
   sessions (each login consumes one, ledgered). Both passwords are argon2id hashes made by
   `crypto.secrets.hash_password`, so both sides pay the same password check, and the staff
   password cache is off for the run (`mail_password_cache_s` 0: with it, a staff login
   after the first would skip argon2 and the comparison would mean nothing). The first
   staff login (nothing of the staff path warm yet) is reported beside the median of those
   after it.

Targets: download >= 0.5x the bare TLS copy; staff login <= 2x the customer login.
"""

from __future__ import annotations

import email
import email.policy
import ftplib
import hashlib
import os
import random
import runpy
import shutil
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.bootstrap import Container, build, ftp_server, ftp_tls_files, initialise
from entrusted.config import Settings
from entrusted.domain.policy import Actor, ActorKind
from entrusted.services.registry_forms import Registration, ServiceRequest

_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # the same run's floors

SPACE = "bench-backup"
FILE = "bench.bin"
CUSTOMER_PW = "bench customer ftp password"
STAFF_PW = "bench staff password"
STAFF = "bench.support"
READ = 256 * 1024  # what each client asks of its socket per call (TLS hands out <= 16 KiB)
CHUNK = 256 * 1024  # what the bare TLS server reads from the file and sends per call
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _last_link(c: Container) -> str:
    """The token in the newest e-mail the `directory` transport wrote (the holder's link)."""
    folder = c.settings.effective_message_dir / "mail"
    newest = max(folder.glob("*.eml"), key=lambda p: p.name)
    message = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    text: str = body.get_content()
    return text.split("#token=")[1].split(maxsplit=1)[0]


def customer_credential(c: Container, customer_id: str, space_id: str) -> str:
    """The password the customer logs in to their space with: the space's own FTP password,
    set by the customer through `FtpPasswordService` (argon2id, `hash_password`)."""
    c.ftp_passwords.set(Actor(ActorKind.CUSTOMER, customer_id), space_id, CUSTOMER_PW)
    return CUSTOMER_PW


def _world(c: Container, logins: int) -> str:
    """The customer with the space, and a support agent with a `logins`-session grant on it;
    returns the customer's FTP password."""
    done = c.registry.register(
        Actor(ActorKind.SERVICE, "signup"),
        Registration("Muster", "Bench", "bench.holder@example.com", "044 000 00 01", None,
                     (ServiceRequest("ftp_space", SPACE),)),
    )  # fmt: skip
    assert done.contract_id is not None
    holder = Actor(ActorKind.CUSTOMER, done.customer_id)
    space_id = c.contracts.get(holder, done.contract_id).services[0].id
    password = customer_credential(c, done.customer_id, space_id)
    member = c.staff.add(STAFF, "Bench Support", ["support"], STAFF_PW)
    support = Actor(ActorKind.STAFF, member.id, member.roles)
    case = c.cases.open(support, done.contract_id, "Benchmark")
    req = c.consent.request(
        support, case.id, space_id, "Benchmark of staff logins.", sessions=logins
    )
    c.consent.approve(holder, req.id, _last_link(c))
    return password


@contextmanager
def _serving(c: Container) -> Iterator[None]:
    server = ftp_server(c)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=run, name="bench-ftps", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def _drain(sock: ssl.SSLSocket, into: bytearray) -> int:
    """Read `sock` to its end into `into` (preallocated), returning how many bytes came (more
    than fit are counted, not kept): the same loop for both copies."""
    view, spare, got = memoryview(into), memoryview(bytearray(READ)), 0
    while True:
        n = sock.recv_into(view[got : got + READ] if got < len(into) else spare)
        if not n:
            return got
        got += n


def _client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def _login(port: int, cert: Path, user: str, password: str) -> ftplib.FTP_TLS:
    ftp = ftplib.FTP_TLS(context=_client_context(cert), timeout=30)
    ftp.connect("127.0.0.1", port)
    ftp.login(user, password)
    return ftp


def _ftps_download(port: int, cert: Path, password: str, into: bytearray) -> tuple[float, int]:
    """(seconds, bytes) of one `RETR` on a `PROT P` data connection, timed from the command
    to the server's `226`; the login before it is not timed."""
    ftp = _login(port, cert, SPACE, password)
    try:
        ftp.prot_p()
        ftp.voidcmd("TYPE I")
        started = time.perf_counter()
        conn = ftp.transfercmd(f"RETR {FILE}")
        assert isinstance(conn, ssl.SSLSocket)
        with conn:
            got = _drain(conn, into)
            conn.unwrap()
        ftp.voidresp()
        return time.perf_counter() - started, got
    finally:
        ftp.close()


def _bare_tls_copy(path: Path, cert: Path, key: Path, into: bytearray) -> tuple[float, int]:
    """(seconds, bytes) of the same file sent over one TLS connection by a plain `ssl`
    server thread, timed from the client's connect (handshake included, as the FTPS data
    connection's is) to the end of the stream."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def send() -> None:
        raw, _ = listener.accept()
        with server_ctx.wrap_socket(raw, server_side=True) as tls, path.open("rb") as f:
            while chunk := f.read(CHUNK):
                tls.sendall(chunk)
            tls.unwrap()

    client_ctx = _client_context(cert)  # made before the clock starts, as ftplib's is
    sender = threading.Thread(target=send, name="bench-bare-tls", daemon=True)
    sender.start()
    try:
        started = time.perf_counter()
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            got = _drain(tls, into)
            tls.unwrap()
        elapsed = time.perf_counter() - started
    finally:
        sender.join(timeout=30)
        listener.close()
    return elapsed, got


def _login_ms(port: int, cert: Path, user: str, password: str) -> float:
    started = time.perf_counter()
    ftp = _login(port, cert, user, password)
    elapsed = (time.perf_counter() - started) * 1000
    ftp.quit()
    return elapsed


def _first_and_median(fn: Callable[[], float], n: int) -> tuple[float, float]:
    times = [fn() for _ in range(n)]
    return round(times[0], 2), round(statistics.median(times[1:]), 2)


def _mib_per_s(runs: list[tuple[float, int]]) -> float:
    """The best of the runs: other processes on the machine only ever slow a copy down, so
    the fastest run is the closest to what each path can do."""
    return round(max(got / MIB / seconds for seconds, got in runs), 1)


def run(quick: bool = False, size_mib: int | None = None) -> dict[str, Any]:
    size = size_mib if size_mib is not None else (8 if quick else 100)
    repeats, logins = (2, 5) if quick else (5, 12)
    scratch = Path(tempfile.mkdtemp(prefix="entrusted-bench-ftp-"))
    low = random.randrange(20000, 60000, 100)
    settings = Settings(
        data_dir=scratch / "data",
        database_url=f"sqlite:///{scratch / 'bench.db'}",
        ftp_bind_host="127.0.0.1",
        ftp_bind_port=_free_port(),
        ftp_passive_ports=f"{low}-{low + 99}",
        ftp_root_template=str(scratch / "ftp" / "%n"),
        grant_max_sessions=logins,
        staff_totp_required=False,
        # Staff passwords are not remembered between logins (the default keeps a verified one
        # for IMAP reconnects, FTP's too): each staff login pays argon2, as each customer's does.
        mail_password_cache_s=0,
        mail_transport="directory",  # the holder's approval link is read back from its file
        sms_transport="directory",
    )
    initialise(settings)
    cert, key = ftp_tls_files(settings)
    write_selfsigned(cert, key, "127.0.0.1")
    c = build(settings)
    result: dict[str, Any] = {"size_mib": size}
    try:
        password = _world(c, logins)
        space = scratch / "ftp" / SPACE
        space.mkdir(parents=True)
        path = space / FILE
        data = os.urandom(size * MIB)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        del data
        into = bytearray(size * MIB)
        port = settings.ftp_bind_port
        with _serving(c):
            ftps: list[tuple[float, int]] = []
            bare: list[tuple[float, int]] = []
            matched = True
            for _ in range(repeats):
                into[:] = bytes(len(into))
                ftps.append(_ftps_download(port, cert, password, into))
                matched &= ftps[-1][1] == len(into) and hashlib.sha256(into).hexdigest() == digest
                into[:] = bytes(len(into))
                bare.append(_bare_tls_copy(path, cert, key, into))
                matched &= bare[-1][1] == len(into) and hashlib.sha256(into).hexdigest() == digest
            customer = _first_and_median(lambda: _login_ms(port, cert, SPACE, password), logins)
            staff = _first_and_median(
                lambda: _login_ms(port, cert, f"{SPACE}*{STAFF}", STAFF_PW), logins
            )
        result.update(
            download_mib_per_s=_mib_per_s(ftps),
            bare_tls_copy_mib_per_s=_mib_per_s(bare),
            sha256_matches=matched,
            customer_login_first_ms=customer[0],
            customer_login_ms=customer[1],
            staff_login_first_ms=staff[0],
            staff_login_ms=staff[1],
        )
    finally:
        c.close()
        shutil.rmtree(scratch, ignore_errors=True)
    result["download_vs_bare_tls"] = round(
        result["download_mib_per_s"] / result["bare_tls_copy_mib_per_s"], 2
    )
    result["staff_vs_customer_login"] = round(
        result["staff_login_ms"] / result["customer_login_ms"], 2
    )
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    result.update(_floors["floors"](None, quick))
    return result
