"""SmtpMailer against a real SMTP server (aiosmtpd) on loopback: what arrives, STARTTLS with
credentials, relay rejections, and every way the relay can be unreachable."""

from __future__ import annotations

import datetime as dt
import doctest
import email
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.adapters.smtp import SmtpMailer
from entrusted.domain.mailings import PURPOSE_HEADER, MailPurpose
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services import memory_mail
from entrusted.services.memory_mail import InMemoryMailer
from entrusted.services.messaging import Outgoing

pytestmark = pytest.mark.promise("P7")

HOST = "127.0.0.1"
SENDER = "Example Hosting <notices@example.com>"
TO = "alice@example.com"
SEC = MailPurpose.SECURITY
USER, PASSWORD = "entrusted", "correct horse battery staple"


def free_port() -> int:
    # aiosmtpd's Controller probes its own port after starting, so port 0 cannot be used.
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps every message; `data_reply` / `rcpt_reply` make it
    answer like a relay enforcing a policy."""

    received: list[Received] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # each accepted DATA, byte for byte
    data_reply: str = "250 2.0.0 OK"
    rcpt_reply: str | None = None

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.data_reply.startswith("250"):
            content = envelope.content
            assert isinstance(content, bytes)
            message = email.message_from_bytes(content, policy=default_policy)
            assert isinstance(message, EmailMessage)
            assert envelope.mail_from is not None
            self.raw.append(content)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return self.data_reply


@pytest.fixture
def relay() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname=HOST, port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def mailer(port: int, **overrides: Any) -> SmtpMailer:
    settings: dict[str, Any] = {
        "starttls": False,
        "username": None,
        "password": None,
        "sender": SENDER,
        "timeout": 5.0,
    }
    settings.update(overrides)
    return SmtpMailer(HOST, port, **settings)


def test_message_arrives_with_sender_recipient_subject_and_headers(
    relay: tuple[Recorder, int],
) -> None:
    recorder, port = relay
    headers = {
        "Auto-Submitted": "auto-generated",
        "X-Hoster-Purpose": "incident",
        "Feedback-ID": "incident:customer-notices:hoster",
    }
    message_id = mailer(port).send(
        TO, "Your identification code", "Code: 123456\n", headers, purpose=SEC
    )

    assert len(recorder.received) == 1
    got = recorder.received[0]
    assert got.mail_from == "notices@example.com"
    assert got.rcpt_tos == [TO]
    assert got.message["From"] == SENDER
    assert got.message["To"] == TO
    assert got.message["Subject"] == "Your identification code"
    assert got.message["Message-ID"] == message_id
    assert message_id.startswith("<")
    assert message_id.endswith("@example.com>")
    for name, value in headers.items():
        assert got.message[name] == value
    assert got.message.get_content() == "Code: 123456\r\n"  # SMTP line endings on the wire
    sent_at = email.utils.parsedate_to_datetime(got.message["Date"])
    assert abs(sent_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_non_ascii_subject_and_body_survive(relay: tuple[Recorder, int]) -> None:
    recorder, port = relay
    mailer(port).send(
        TO, "Änderung der Datenschutzerklärung", "Grüezi Zoë,\nneu: §4.\n", purpose=SEC
    )
    got = recorder.received[0].message
    assert got["Subject"] == "Änderung der Datenschutzerklärung"
    assert got.get_content() == "Grüezi Zoë,\r\nneu: §4.\r\n"


def test_each_message_gets_its_own_message_id(relay: tuple[Recorder, int]) -> None:
    recorder, port = relay
    sender = mailer(port)
    ids = {sender.send(TO, "Notice", f"body {n}", purpose=SEC) for n in range(5)}
    assert len(ids) == 5
    assert {r.message["Message-ID"] for r in recorder.received} == ids


def test_relay_rejecting_the_message_is_unavailable(relay: tuple[Recorder, int]) -> None:
    recorder, port = relay
    recorder.data_reply = "550 5.7.1 Purpose not allowed by privacy policy"
    with pytest.raises(Unavailable) as info:
        mailer(port).send(
            TO, "Partner offer", "...", {"X-Hoster-Purpose": "partner-offer"}, purpose=SEC
        )
    assert "550 5.7.1" in str(info.value)  # the code and its enhanced status, nothing else
    assert "Purpose" not in str(info.value)
    assert recorder.received == []


def test_relay_refusing_the_recipient_for_good_is_invalid_input(
    relay: tuple[Recorder, int],
) -> None:
    recorder, port = relay
    recorder.rcpt_reply = f"550 5.1.1 <{TO}>: Recipient address rejected"
    with pytest.raises(InvalidInput) as info:
        mailer(port).send(TO, "Code", "123456", purpose=SEC)
    assert info.value.field == "to"
    assert "550 5.1.1" in str(info.value)
    assert TO not in str(info.value)  # the relay echoed it; the error does not


def test_a_relay_echoing_the_recipient_in_other_words_is_not_repeated(
    relay: tuple[Recorder, int],
) -> None:
    """A relay's free text can name the person in forms no address pattern catches; the
    error (which reaches API clients and the permanent ledger) keeps only the codes."""
    recorder, port = relay
    local, domain = TO.split("@")
    recorder.rcpt_reply = (
        f"550 5.1.1 user {TO.upper()} unknown (local part {local}, mailbox {local} at {domain})"
    )
    with pytest.raises(InvalidInput) as info:
        mailer(port).send(TO, "Code", "123456", purpose=SEC)
    said = str(info.value)
    assert "550 5.1.1" in said
    assert local not in said.lower()
    assert domain not in said.lower()


def test_relay_deferring_the_recipient_is_unavailable(relay: tuple[Recorder, int]) -> None:
    recorder, port = relay
    recorder.rcpt_reply = "450 4.2.0 Greylisted, try again later"
    with pytest.raises(Unavailable, match="450"):
        mailer(port).send(TO, "Code", "123456", purpose=SEC)


def test_nothing_listening_is_unavailable() -> None:
    port = free_port()
    with pytest.raises(Unavailable) as info:
        mailer(port).send(TO, "Code", "123456", purpose=SEC)
    assert f"{HOST}:{port}" in str(info.value)


def test_silent_server_times_out_as_unavailable() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind((HOST, 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(Unavailable, match="unreachable"):
            mailer(port, timeout=0.3).send(TO, "Code", "123456", purpose=SEC)


def test_bad_input_is_refused_before_connecting() -> None:
    port = free_port()  # nothing listens: reaching the network would be Unavailable instead
    sender = mailer(port)
    with pytest.raises(InvalidInput) as info:
        sender.send(TO, "Code\r\nBcc: eve@example.com", "x", purpose=SEC)
    assert info.value.field == "subject"
    with pytest.raises(InvalidInput) as info:
        sender.send(f"{TO}, eve@example.com", "Code", "x", purpose=SEC)
    assert info.value.field == "to"
    with pytest.raises(InvalidInput) as info:
        sender.send(TO, "Code", "x", {"Bcc": "eve@example.com"}, purpose=SEC)
    assert info.value.field == "headers"
    with pytest.raises(InvalidInput) as info:
        sender.send(TO, "Code", "x", {"X-Note": "a\nBcc: eve@example.com"}, purpose=SEC)
    assert info.value.field == "header X-Note"


BAD_MESSAGES = [
    ("Alice@Example.com", "Code", {}, "to"),  # not canonical: normalise before sending
    ("alice@example.com, eve@example.com", "Code", {}, "to"),
    ("Alice <alice@example.com>", "Code", {}, "to"),
    (TO, "Code\r\nBcc: eve@example.com", {}, "subject"),
    (TO, "Code", {"To": "eve@example.com"}, "headers"),
    (TO, "Code", {"message-id": "<forged@example.com>"}, "headers"),
    (TO, "Code", {"Bad Name": "x"}, "headers"),
    (TO, "Code", {"X-Colon:": "x"}, "headers"),
    (TO, "Code", {"X-Note": "a\nBcc: eve@example.com"}, "header X-Note"),
    (TO, "Code", {"X-Note": "a\x00b"}, "header X-Note"),
]


@pytest.mark.parametrize(("to", "subject", "headers", "field_name"), BAD_MESSAGES)
def test_adapter_and_twin_refuse_the_same_input(
    relay: tuple[Recorder, int], to: str, subject: str, headers: dict[str, str], field_name: str
) -> None:
    recorder, port = relay
    with pytest.raises(InvalidInput) as real:
        mailer(port).send(to, subject, "body", headers, purpose=SEC)
    twin = InMemoryMailer()
    with pytest.raises(InvalidInput) as fake:
        twin.send(to, subject, "body", headers, purpose=SEC)
    assert real.value.field == fake.value.field == field_name
    assert recorder.received == []
    assert twin.sent == []


def test_twin_records_and_fails_like_the_relay() -> None:
    assert doctest.testmod(memory_mail).failed == 0
    twin = InMemoryMailer()
    message_id = twin.send(TO, "Code", "123456", {"Auto-Submitted": "auto-generated"}, purpose=SEC)
    assert twin.sent[0].message_id == message_id
    assert twin.sent[0].headers == {"Auto-Submitted": "auto-generated", PURPOSE_HEADER: "security"}
    twin.fail = True
    with pytest.raises(Unavailable):
        twin.send(TO, "Code", "654321", purpose=SEC)
    assert len(twin.sent) == 1


# --- STARTTLS and credentials -----------------------------------------------------------------


@dataclass
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway self-signed certificate for 127.0.0.1, and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory: Path = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    return Tls(server, client)


def check_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535


@pytest.fixture
def tls_relay(tls: Tls) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(
        recorder,
        hostname=HOST,
        port=port,
        tls_context=tls.server,
        require_starttls=True,
        authenticator=check_login,
        auth_required=True,
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def test_starttls_with_credentials_delivers(tls: Tls, tls_relay: tuple[Recorder, int]) -> None:
    recorder, port = tls_relay
    sender = mailer(port, starttls=True, username=USER, password=PASSWORD, tls_context=tls.client)
    sender.send(TO, "Code", "123456", purpose=SEC)
    assert [r.rcpt_tos for r in recorder.received] == [[TO]]
    assert PASSWORD not in repr(sender)


def test_wrong_password_is_unavailable_without_the_password(
    tls: Tls, tls_relay: tuple[Recorder, int]
) -> None:
    recorder, port = tls_relay
    wrong = "not the password at all"
    sender = mailer(port, starttls=True, username=USER, password=wrong, tls_context=tls.client)
    with pytest.raises(Unavailable, match="credentials") as info:
        sender.send(TO, "Code", "123456", purpose=SEC)
    assert wrong not in str(info.value)
    assert USER not in str(info.value)
    assert recorder.received == []


def test_untrusted_certificate_is_unavailable(tls_relay: tuple[Recorder, int]) -> None:
    recorder, port = tls_relay  # the system trust store does not know the test certificate
    sender = mailer(port, starttls=True, username=USER, password=PASSWORD)
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
        sender.send(TO, "Code", "123456", purpose=SEC)
    assert recorder.received == []


def test_relay_without_starttls_gets_nothing(relay: tuple[Recorder, int]) -> None:
    recorder, port = relay  # offers no STARTTLS: never fall back to plain text
    sender = mailer(port, starttls=True, username=USER, password=PASSWORD)
    with pytest.raises(Unavailable, match="STARTTLS") as info:
        sender.send(TO, "Code", "123456", purpose=SEC)
    assert PASSWORD not in str(info.value)
    assert recorder.received == []


def test_credentials_in_clear_to_a_remote_relay_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        SmtpMailer("smtp.example.com", 25, False, USER, PASSWORD, SENDER)
    assert info.value.field == "smtp credentials"
    with pytest.raises(InvalidInput):
        SmtpMailer("smtp.example.com", 587, True, USER, None, SENDER)


def test_sender_must_be_an_address() -> None:
    with pytest.raises(InvalidInput) as info:
        SmtpMailer(HOST, 25, False, None, None, "Example Hosting")
    assert info.value.field == "smtp sender"


# --- issue 16 item 2: messages that cannot be built, raw structured headers, DATA refusals ---

UNSUBSCRIBE = "<https://hosting.example.com/v1/mailings/unsubscribe?token=" + "T" * 32 + ">"
MAILING_HEADERS = {
    "Auto-Submitted": "auto-generated",
    "Feedback-ID": "mlg_0000000000000001:new_service:mailing:example.com",
    "List-Unsubscribe": UNSUBSCRIBE,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def raw_headers(data: bytes) -> list[bytes]:
    """The head of a message as sent: its lines, not re-parsed (a parser would decode
    encoded-words and hide them)."""
    return data.replace(b"\r\n", b"\n").partition(b"\n\n")[0].split(b"\n")


def assert_structured_headers_raw(data: bytes) -> None:
    head = raw_headers(data)
    assert f"List-Unsubscribe: {UNSUBSCRIBE}".encode() in head
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
    assert f"Feedback-ID: {MAILING_HEADERS['Feedback-ID']}".encode() in head
    assert any(line.startswith(b"Message-ID: <") for line in head)
    for i, line in enumerate(head):  # each whole on its line: neither folded nor encoded
        if line.lower().startswith((b"list-unsubscribe", b"feedback-id", b"message-id")):
            assert b"=?" not in line
            assert i + 1 == len(head) or not head[i + 1][:1].isspace()
    assert sum(line.lower().startswith(b"auto-submitted:") for line in head) == 1


@pytest.mark.parametrize("subject", ["Tägliche Wartung " * 6, "Maintenance"])
def test_structured_headers_are_sent_raw_and_auto_submitted_once(
    relay: tuple[Recorder, int], subject: str
) -> None:
    recorder, port = relay
    batch = [Outgoing(TO, subject, "Text.\n", MAILING_HEADERS)]
    result = mailer(port).send_many(batch, purpose=MailPurpose.NEW_SERVICE)
    assert result.handed[0].message_id is not None
    mailer(port).send(TO, subject, "Text.\n", MAILING_HEADERS, purpose=MailPurpose.NEW_SERVICE)
    assert len(recorder.raw) == 2
    for data in recorder.raw:
        assert_structured_headers_raw(data)


def test_the_directory_transport_writes_structured_headers_raw(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    out = DirectoryMailer(folder, SENDER)
    out.send(TO, "Tägliche Wartung " * 6, "Text.\n", MAILING_HEADERS,
             purpose=MailPurpose.NEW_SERVICE)  # fmt: skip
    (eml,) = folder.glob("*.eml")
    assert_structured_headers_raw(eml.read_bytes())


@pytest.mark.parametrize("bad", ["\u2028", "\u0085", "\v", "\f", "\x1c"])
def test_a_message_that_cannot_be_built_is_refused_for_good_and_the_batch_goes_on(
    relay: tuple[Recorder, int], bad: str
) -> None:
    recorder, port = relay
    batch = [Outgoing(TO, f"Outage{bad}now", "Text.\n", {}), Outgoing(TO, "Fine", "Text.\n", {})]
    result = mailer(port).send_many(batch, purpose=MailPurpose.INCIDENT)
    first, second = result.handed
    assert (first.message_id, first.permanent) == (None, True)
    assert "cannot be built" in (first.error or "")
    assert second.message_id is not None
    assert result.stopped is None
    assert len(recorder.raw) == 1


@pytest.mark.parametrize(("reply", "permanent"), [("554 5.7.1 rejected", True),
                                                  ("451 4.3.0 try later", False)])  # fmt: skip
def test_a_5xx_to_data_refuses_that_message_for_good_a_4xx_defers_it(
    relay: tuple[Recorder, int], reply: str, permanent: bool
) -> None:
    recorder, port = relay
    recorder.data_reply = reply
    result = mailer(port).send_many([Outgoing(TO, "S", "T\n", {})] * 2, purpose=SEC)
    assert result.stopped is None
    assert [(h.message_id, h.permanent) for h in result.handed] == [(None, permanent)] * 2
    assert reply[:3] in (result.handed[0].error or "")
