"""Master-key rotation on the customer table, interrupted mid-way and restarted, with every
record readable throughout (SQLite and PostgreSQL); and identification codes and password links
delivered through a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.crypto.envelope import WrappedKey, create_master_key_file
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.errors import Unavailable
from entrusted.services.keys import rotate
from tests.conftest import FakeClock
from tests.unit.registry_world import SIGNUP, People, customer

pytestmark = pytest.mark.promise("P1", "P2")


class DyingStore:
    """The SQL wrapped-key store, dying like a killed process after `allowed` replaces."""

    def __init__(self, inner: object, allowed: int) -> None:
        self.inner = inner
        self.allowed = allowed

    def count_by_kek(self) -> dict[str, int]:
        return self.inner.count_by_kek()  # type: ignore[attr-defined, no-any-return]

    def batch_wrapped_by(
        self, kek_id: str, limit: int, after: str | None = None
    ) -> list[tuple[str, WrappedKey]]:
        return self.inner.batch_wrapped_by(kek_id, limit, after)  # type: ignore[attr-defined, no-any-return]

    def replace(self, customer_id: str, old: WrappedKey, new: WrappedKey) -> bool:
        if self.allowed == 0:
            raise Unavailable("killed mid-rotation")
        self.allowed -= 1
        return self.inner.replace(customer_id, old, new)  # type: ignore[attr-defined, no-any-return]


def emails(c: Container, ids: list[str]) -> list[str]:
    return [c.registry.details(customer(i), i).details.email for i in ids]


def test_interrupted_rotation_restarts_and_every_record_stays_readable(
    database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    base = Settings(data_dir=data, database_url=database_url)
    initialise(base)
    old_file, new_file = data / "master.key", data / "master-2.key"
    c = build(base, clock=FakeClock())
    people = People(seed=3)
    ids = [c.registry.register(SIGNUP, people.form()).customer_id for _ in range(12)]
    expected = emails(c, ids)
    c.close()

    create_master_key_file(new_file)
    rotating = Settings(
        data_dir=data,
        database_url=database_url,
        master_key_file=new_file,
        previous_master_key_files=(old_file,),
    )
    c = build(rotating, clock=FakeClock())
    keyring = c.registry_keys().keyring
    with pytest.raises(Unavailable, match="killed"):
        rotate(DyingStore(c.key_store, allowed=5), keyring, keyring.current, batch_size=4)
    old_id = next(k for k in keyring.kek_ids if k != keyring.current.kek_id)
    assert c.key_store.count_by_kek() == {keyring.current.kek_id: 5, old_id: 7}
    assert emails(c, ids) == expected  # mid-rotation: both keys on the ring read everything
    fresh = c.registry.register(SIGNUP, people.form()).customer_id  # new rows: new key
    report = rotate(c.key_store, keyring, keyring.current, batch_size=4)
    assert report.complete
    assert (report.already_current, report.rewrapped, report.conflicts) == (6, 7, 0)
    c.close()

    only_new = Settings(data_dir=data, database_url=database_url, master_key_file=new_file)
    c = build(only_new, clock=FakeClock())
    assert emails(c, [*ids, fresh])[:12] == expected
    c.close()
    only_old = Settings(data_dir=data, database_url=database_url)
    c = build(only_old, clock=FakeClock())
    with pytest.raises(Unavailable, match="not loaded"):
        emails(c, ids[:1])
    c.close()


# --- real SMTP ---------------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], str]] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        message = email.message_from_bytes(content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        text = message.get_body(("plain",))  # notices are multipart/alternative (issue 18)
        assert text is not None
        self.messages.append((list(envelope.rcpt_tos), str(text.get_content())))
        return "250 2.0.0 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_codes_and_links_go_through_the_smtp_relay(
    database_url: str, tmp_path: Path, relay: tuple[Inbox, int]
) -> None:
    inbox, port = relay
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_sender="Example Hosting <notices@example.com>",
    )
    initialise(settings)
    c = build(settings, clock=FakeClock())
    try:
        form = People(seed=8).form()
        done = c.registry.register(SIGNUP, form)
        assert done.password_link_queued
        assert inbox.messages == []  # queued with the customer; the worker's job sends it
        assert c.outbox.deliver().sent == 1
        ((to, message),) = inbox.messages
        assert to == [form.email]
        assert "#token=entl_" in message
        member = c.staff.add("support1", "Support", ["support"], "correct horse battery")
        support = Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT}))
        started = c.identification.start(support, done.customer_id, "email_code")
        to, message = inbox.messages[-1]
        assert to == [form.email]
        code = message.split("code is ")[1][:6]
        assert c.identification.verify(support, started.id, code).outcome == "verified"
    finally:
        c.close()
