"""A log server that trickles its answer a byte at a time cannot stall `ledger monitor`,
`verify-receipt --against` or `evidence verify` (issue 17 trial finding): each answer must
arrive within a deadline, on a real socket, or the read is `Unavailable`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from entrusted.adapters import ledger_http
from entrusted.adapters.ledger_http import HttpTileSource
from entrusted.errors import Unavailable

pytestmark = pytest.mark.promise("P3", "P14")


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """One connection: a 200 header with a long body, then one byte every 50 ms, for 5 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            end = time.monotonic() + 5
            while not stop.is_set() and time.monotonic() < end:
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1/ledger"
    stop.set()
    listener.close()
    thread.join(timeout=10)


def test_a_trickled_answer_ends_at_the_deadline(
    trickling_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_http, "DEADLINE_S", 0.5)
    started = time.monotonic()
    with HttpTileSource(trickling_server) as source, pytest.raises(Unavailable, match="longer"):
        source.checkpoint()
    assert time.monotonic() - started < 3  # not the 5 s the server would go on for
