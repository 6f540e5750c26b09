"""The ledger's C2SP tlog-tiles API, checked by a verifier we did not write (`tlog-scales`).

The app runs under uvicorn on a free loopback port; tlog-scales' own HTTP reader fetches the
checkpoint and tiles, verifies our Ed25519 signature with its own code, and computes root,
inclusion and consistency proofs from our tiles that must equal ours byte for byte. Entry
bundles are not public: they need a bearer token and pass the gate (sysadmin: yes, support:
no, and both decisions are themselves ledgered).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from tlog_scales.backend import HttpBackend
from tlog_scales.reader import TilesReader
from tlog_scales.signing import Vkey
from tlog_scales.tiles import leaf_hash as their_leaf_hash

from entrusted.bootstrap import Container
from entrusted.entrypoints.api.app import create_app
from tests.integration.ledger_support import fill
from tests.refusals import http_default_denied

pytestmark = pytest.mark.promise("P3", "P14")

SIZE = 65_536 + 3 * 256 + 5  # full and partial tiles at levels 0 and 1, a partial at level 2
OLD = 1_000
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def serve(container: Container) -> Iterator[Callable[[int], str]]:
    """`serve(size)`: fill the log with `size` entries and serve the app; returns the log's URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(size: int) -> str:
        fill(container, size, tuple(n for n in (OLD, size) if n <= size))
        port = free_port()
        app = create_app(container=container)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}/v1/ledger"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def test_tlog_scales_verifies_our_log(serve: Callable[[int], str], container: Container) -> None:
    base_url = serve(SIZE)
    store = container.ledger_store
    reader = TilesReader(HttpBackend(base_url))
    checkpoint = reader.get_checkpoint()
    checkpoint.verify(Vkey.from_string(container.checkpoints.vkey))  # raises if it does not
    root = store.root_at(SIZE)
    assert (checkpoint.size, checkpoint.root_hash) == (SIZE, root)
    assert reader.calculate_root_hash() == root
    for index in (0, 1, 255, 256, 40_000, 65_535, 65_536, SIZE - 6, SIZE - 1):
        theirs = reader.get_inclusion_proof(index, SIZE)
        assert theirs.node_hashes == store.inclusion_proof(index, SIZE), index
        body = store.entries(index, index + 1)[0]
        theirs.check(their_leaf_hash(body), root)
    for old in (1, OLD, 65_536, SIZE - 1):
        theirs_c = reader.get_consistency_proof(old, SIZE)
        assert theirs_c.node_hashes == store.consistency_proof(old, SIZE), old
        theirs_c.check(store.root_at(old), root)
    _check_plain_http(base_url, container)


def _check_plain_http(base_url: str, container: Container) -> None:
    """Content types, cache headers, widths, and 404 for any non-canonical or absent tile."""
    with httpx.Client(base_url=base_url) as http:
        cp = http.get("/checkpoint")
        assert cp.status_code == 200
        assert cp.headers["content-type"].startswith("text/plain")
        assert cp.text == container.ledger_store.latest_checkpoint().note  # type: ignore[union-attr]
        assert http.get("/vkey").text.strip() == container.checkpoints.vkey
        full = http.get("/tile/0/000")
        assert len(full.content) == 256 * 32
        assert "immutable" in full.headers["cache-control"]
        partial = http.get("/tile/1/001.p/3")
        assert len(partial.content) == 3 * 32
        assert "immutable" not in partial.headers["cache-control"]
        assert http.get("/tile/0/000.p/7").content == full.content[: 7 * 32]
        assert http.get("/tile/2/000.p/1").status_code == 200
        for bad in (
            "/tile/0/0",
            "/tile/0/000.p/256",
            "/tile/0/x000/001",
            "/tile/0/999",
            "/tile/1/001.p/4",
            "/tile/x/000",
        ):
            assert http.get(bad).status_code == 404, bad


def test_entry_bundles_need_a_token_and_the_gate(
    serve: Callable[[int], str], container: Container
) -> None:
    base_url = serve(OLD + 10)
    container.staff.add("ana", "Ana", ["sysadmin"], PASSWORD)
    container.staff.add("bob", "Bob", ["support"], PASSWORD)
    reader = TilesReader(HttpBackend(base_url))
    reader.get_checkpoint()
    with pytest.raises(RuntimeError):  # 401: tlog-scales sees no tile
        reader.get_entry(3)
    support = container.staff.login("bob", PASSWORD, None, "127.0.0.1").secret
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {support}"}) as http:
        http_default_denied(http.get("/tile/entries/000"), "support to read ledger")
    size_before = container.ledger_store.stored_size()
    token = container.staff.login("ana", PASSWORD, None, "127.0.0.1").secret
    backend = HttpBackend(base_url)
    backend.session.headers["Authorization"] = f"Bearer {token}"
    reader = TilesReader(backend)
    reader.get_checkpoint()
    for index in (3, 300, OLD + 9):
        assert reader.get_entry(index) == container.ledger_store.entries(index, index + 1)[0]
    assert container.ledger_store.stored_size() > size_before  # the reads are in the ledger
