"""The installation the end-to-end consent test drives (issue 18): Entrusted on a SQLite file
with real time, the API and the pages (`create_server_app`) served by uvicorn in a thread, a
real SMTP relay (aiosmtpd) receiving every mail, and a private Dovecot whose staff logins ask
that same server's gate (tests/integration/mail_world.py's Dovecot, reused as it is).

Why not `mail_world` itself: it serves the API alone and sends mail to a directory; the pages'
links must point at the server the browser talks to, and the customer's mail must travel
through a relay, so the portal's address (its port) is chosen before the container is built.

    with flow_world(tmp_path) as w:
        w.url                      # http://127.0.0.1:<port>
        w.mails_to("a@example.com")
        w.dovecot.port
"""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pyotp
import uvicorn

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.entrypoints.server import create_server_app
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.conftest import require_service
from tests.integration.mail_world import dovecot
from tests.integration.test_messages_sql import Relay
from tests.integration.test_smtp_adapter import HOST, SENDER
from tests.unit.registry_world import SIGNUP

STAFF_PASSWORD = "a long staff passphrase"
CUSTOMER_PASSWORD = "a long customer passphrase"
MAILBOX_PASSWORD = "the customer's own mail password"
# How long a mail may take to reach the relay (the outbox is delivered by the test itself).
MAIL_WAIT_S = 10.0


class ServedApp:
    """`create_server_app` under uvicorn in a daemon thread, on a socket bound before the
    container was built (its port is in the portal links the mails carry)."""

    def __init__(self, container: Container, sock: socket.socket) -> None:
        self._sock = sock
        config = uvicorn.Config(
            create_server_app(container=container), log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> ServedApp:
        self._thread.start()
        dovecot.wait_for_port(self._sock.getsockname()[1])
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@dataclass
class Customer:
    id: str
    email: str
    contract_id: str
    mailbox_id: str
    mailbox: str  # the mailbox's address, its Dovecot user name


@dataclass
class FlowWorld:
    c: Container
    url: str
    relay: Relay
    dovecot: Any  # benchmarks/_dovecot.py's PrivateDovecot (loaded from its file)

    def mails_to(self, address: str) -> list[EmailMessage]:
        """Every message the relay accepted for `address`, oldest first, after the outbox's
        due notices were handed over (the worker's one pass; no worker thread runs here)."""
        self.c.outbox.deliver()
        return [r.message for r in self.relay.recorder.received if address in r.rcpt_tos]

    def customer(self, n: int, language: str) -> Customer:
        """A customer with one mailbox (known to Dovecot) and a portal password set through
        the link the sign-up mailed to them, as a customer would."""
        email = f"lea{n}.muster@example.com"
        mailbox = f"lea{n}@example.org"
        form = Registration(
            "Muster", f"Léa{n}", email, None, None,
            (ServiceRequest("mailbox", mailbox),), language=language,
        )  # fmt: skip
        done = self.c.registry.register(SIGNUP, form)
        assert done.contract_id is not None
        with self.c.uow() as uow:
            contract = uow.contracts.get(done.contract_id)  # type: ignore[attr-defined]
        self.dovecot.add_customer(mailbox, MAILBOX_PASSWORD)
        (welcome,) = self.mails_to(email)
        link = text_of(welcome)
        self.c.customer_auth.set_password(link.split("#token=")[1].split()[0], CUSTOMER_PASSWORD)
        return Customer(done.customer_id, email, done.contract_id, contract.services[0].id, mailbox)

    def support_agent(self, username: str) -> tuple[Actor, pyotp.TOTP]:
        """A support member with a confirmed authenticator, and the authenticator. The code
        that confirmed it is the previous time step's, so the current one signs in."""
        member = self.c.staff.add(username, "Sam Muster", ["support"], STAFF_PASSWORD)
        uri = self.c.staff.enroll_totp(username)
        totp = pyotp.parse_uri(uri)
        assert isinstance(totp, pyotp.TOTP)
        self.c.staff.confirm_totp(username, totp.at(self.c.clock().timestamp() - 30))
        return Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT})), totp


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a mail (multipart/alternative or plain)."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, message
    return str(part.get_content())


@contextmanager
def flow_world(tmp: Path) -> Iterator[FlowWorld]:
    """The world above; everything it started is stopped on exit, in reverse order."""
    require_service(dovecot.dovecot_binary() is not None, "Dovecot with dovecot-auth-lua")
    sock = socket.socket()
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    url = f"http://{HOST}:{port}"
    base = Path(tempfile.mkdtemp(prefix="entrusted-dovecot-"))  # private_dovecot removes it
    relay = Relay()
    settings = Settings(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'flow.db'}",
        staff_totp_required=True,
        mail_transport="smtp",
        smtp_host=HOST,
        smtp_port=relay.port,
        smtp_starttls=False,
        smtp_sender=SENDER,
        sms_transport="directory",
        portal_url=f"{url}/portal",
        public_url=url,
        doveadm_path="doveadm",
        doveadm_config=base / "etc" / "dovecot.conf",
        mail_root_template=str(base / "mail" / "%d" / "%n" / "Maildir"),
    )
    try:
        initialise(settings)
        c = build(settings)
        try:
            server = ServedApp(c, sock).start()
            try:
                token = c.staff.issue_service_token("mail_hook", "dovecot").secret
                with dovecot.private_dovecot(f"{url}/v1/gate/mail-login", token, base) as dc:
                    yield FlowWorld(c, url, relay, dc)
            finally:
                server.stop()
        finally:
            c.close()
    finally:
        relay.stop()
        sock.close()
