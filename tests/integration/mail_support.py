"""What the tests against a real SMTP relay share: the relay itself (aiosmtpd on loopback), its
fixture, the settings that point an installation at it, and a container built on them. One
place, so that every such test talks to the relay the same way and a new setting (or a new way
for the relay to fail) is added once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from tests.conftest import FakeClock
from tests.integration.test_smtp_adapter import HOST, SENDER, Recorder, free_port


class Relay:
    """An aiosmtpd relay that can refuse (`recorder.data_reply`) or go away (`stop`)."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname=HOST, port=self.port)
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay()
    try:
        yield r
    finally:
        r.stop()


def smtp_settings(database_url: str, tmp_path: Path, port: int, **extra: Any) -> Settings:
    """An installation that mails through the relay on `port` (plain SMTP: loopback has no
    certificate) and writes text messages to files; `extra` adds or overrides settings."""
    fields: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "smtp_host": HOST,
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_sender": SENDER,
        "sms_transport": "directory",
        **extra,
    }
    return Settings(**fields)


@contextmanager
def built(settings: Settings, clock: FakeClock) -> Iterator[Container]:
    """The container of an installed `settings`, closed however the test ends."""
    c = build(settings, clock=clock)
    try:
        yield c
    finally:
        c.close()
