"""The demo's FTP step (P9): the FTPS server in-process on a free loopback port; the customer
sets their space's FTP password and uploads to it, support sees its sizes (no names), staff
are refused without a grant, enter once under a read-only grant (an upload refused), and a
second login is refused."""

from __future__ import annotations

import ftplib
import io
import socket
import ssl
import threading
from pathlib import Path

from faker import Faker

from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.bootstrap import Container, ftp_server, ftp_tls_files
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_messages import last_body
from entrusted.entrypoints.cli.demo_registry import SIGNUP, _person, _staff
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import ServiceRequest

SPACE = "demo-backup"
CUSTOMER_PASSWORD = "demo-customer-password-1"  # noqa: S105 - a demo credential on fake data
FTP_PASSWORD = "demo-ftp-space-password-1"  # noqa: S105 - the space's own, on fake data
STAFF_PASSWORD = "demo-password-123"  # noqa: S105 - the demo staff's published password


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ftp_step(c: Container, fake: Faker) -> None:
    cert, key = ftp_tls_files(c.settings)
    write_selfsigned(cert, key, "127.0.0.1")
    server = ftp_server(c)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=run, name="demo-ftps", daemon=True)
    thread.start()
    try:
        _walk(c, fake, c.settings.ftp_bind_port, cert)
    finally:
        stop.set()
        thread.join(timeout=10)


def _login(port: int, cert: Path, user: str, password: str) -> ftplib.FTP_TLS:
    context = ssl.create_default_context(cafile=str(cert))
    ftp = ftplib.FTP_TLS(context=context, timeout=10)  # noqa: S321 - FTPS, TLS on both channels
    ftp.connect("127.0.0.1", port)
    try:
        ftp.login(user, password)
        ftp.prot_p()
    except ftplib.Error:
        ftp.close()
        raise
    return ftp


def _refused(label: str, port: int, cert: Path, user: str) -> None:
    try:
        _login(port, cert, user, STAFF_PASSWORD).quit()
    except ftplib.error_perm as exc:
        console.print(f"  {label}: [red]refused[/red] ({exc})")
        return
    raise AssertionError(f"{label} passed")


def _walk(c: Container, fake: Faker, port: int, cert: Path) -> None:
    holder = c.registry.register(SIGNUP, _person(fake, 4, (ServiceRequest("ftp_space", SPACE),)))
    assert holder.contract_id is not None
    c.outbox.deliver()
    link = last_body(c, "Set your password").split("#token=")[1].split()[0]
    c.customer_auth.set_password(link, CUSTOMER_PASSWORD)
    me = Actor(ActorKind.CUSTOMER, holder.customer_id)
    space_id = c.contracts.get(me, holder.contract_id).services[0].id
    c.ftp_passwords.set(me, space_id, FTP_PASSWORD)
    console.print(f"  the customer sets the FTP password of {SPACE} (ledgered: ftp.password-set)")
    mine = _login(port, cert, SPACE, FTP_PASSWORD)
    mine.storbinary("STOR backup.tar", io.BytesIO(b"fake backup"))
    console.print(f"  the customer logs in to {SPACE} over FTPS and uploads: {mine.nlst()}")
    mine.quit()
    name, support = _staff(c, "support")
    sizes = c.ftp_space_monitor.sizes(support, SPACE, AccessContext(ticket="HD-4711"))
    console.print(
        f"  {name} (support, on ticket HD-4711) sees the space's sizes, no names: "
        f"{sizes.files} file(s), "
        f"{sizes.bytes} bytes"
    )
    user = f"{SPACE}*{name}"
    _refused(f"{name} logs in as {user} without a grant", port, cert, user)
    case = c.cases.open(support, holder.contract_id, "Backup restore fails")
    req = c.consent.request(
        support, case.id, space_id, "The restore fails; I need to see the files.", read_only=True
    )
    c.consent.approve(me, req.id, last_body(c, "Support asks").split("#token=")[1].split()[0])
    staff = _login(port, cert, user, STAFF_PASSWORD)
    console.print(f"  under the read-only grant {name} lists: {staff.nlst()}")
    try:
        staff.storbinary("STOR planted.txt", io.BytesIO(b"x"))
    except ftplib.error_perm as exc:
        console.print(f"  {name} uploads: [red]refused[/red] ({exc}); ledgered as ftp.read-only")
    staff.quit()
    _refused(f"{name} logs in a second time (one-off grant)", port, cert, user)
    c.cases.resolve(support, case.id)
