"""Transfer throttling of the FTPS server (issue 14 item 1): with a download limit set, a
download over a real TLS data channel takes at least size/limit seconds and arrives whole;
an upload limit holds uploads the same way. Only a lower bound on the time is asserted:
a loaded machine can make a transfer slower, never faster than the throttle allows."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from entrusted.adapters.ftp.server import IOLoop, LiveSessions, build_server
from entrusted.bootstrap.ftp import _config
from tests.integration.ftp_world import FtpWorld, free_port, ftp_world

pytestmark = pytest.mark.promise("P9")

__all__ = ["ftp_world"]  # the fixture, imported to be found

SIZE = 256 * 1024
LIMIT = 64 * 1024  # bytes per second: the transfer needs >= 4 s


@contextmanager
def throttled(w: FtpWorld, **limits: int) -> Iterator[int]:
    low = random.randrange(20000, 60000, 100)
    config = replace(
        _config(w.c.settings),
        port=free_port(),
        passive_ports=range(low, low + 100),
        **limits,
    )
    # Its own I/O loop: the fixture's server runs on the process-wide one in another thread.
    server = build_server(config, w.c.ftp_login, LiveSessions(), IOLoop())
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield config.port
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_download_is_held_to_the_limit_and_arrives_whole(ftp_world: FtpWorld) -> None:
    w = ftp_world
    who = w.customer(1)
    data = random.randbytes(SIZE)
    up = w.login(who.name, who.password)
    up.storbinary("STOR big.bin", io.BytesIO(data))
    up.quit()
    with throttled(w, download_limit_bytes_s=LIMIT) as port:
        w.port, free = port, w.port
        try:
            ftp = w.login(who.name, who.password)
        finally:
            w.port = free
        got = io.BytesIO()
        started = time.monotonic()
        ftp.retrbinary("RETR big.bin", got.write)
        took = time.monotonic() - started
        ftp.quit()
    assert hashlib.sha256(got.getvalue()).digest() == hashlib.sha256(data).digest()
    assert took >= 0.75 * SIZE / LIMIT, took


def test_an_upload_is_held_to_the_limit(ftp_world: FtpWorld, tmp_path: Path) -> None:
    w = ftp_world
    who = w.customer(1)
    data = random.randbytes(SIZE)
    with throttled(w, upload_limit_bytes_s=LIMIT) as port:
        w.port, free = port, w.port
        try:
            ftp = w.login(who.name, who.password)
        finally:
            w.port = free
        started = time.monotonic()
        ftp.storbinary("STOR up.bin", io.BytesIO(data))
        took = time.monotonic() - started
        ftp.quit()
    stored = next(w.root.rglob("up.bin")).read_bytes()
    assert stored == data
    assert took >= 0.75 * SIZE / LIMIT, took
