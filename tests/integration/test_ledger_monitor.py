"""Monitoring by anyone, against the real API on loopback, on both databases: `ledger monitor`
keeps the last verified checkpoint and fails loudly (exit 9, state untouched) when the log is
rolled back or rewritten even with the signing key; `verify-receipt --against` catches an old
receipt whose entry was removed from today's log, which the receipt alone cannot show."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.bootstrap import Container, build, tile_source
from entrusted.config import Settings
from entrusted.crypto.signing import load_signer
from entrusted.domain.checkpoint import Checkpoint
from entrusted.entrypoints.api.app import create_app
from entrusted.entrypoints.cli.context import EXIT_CODES
from entrusted.entrypoints.cli.main import app
from entrusted.errors import TamperDetected
from entrusted.services.ledger_monitor import MonitorState, monitor
from entrusted.services.receipts import ReceiptService, verify_receipt
from tests.integration.ledger_support import LEDGER_TABLES, audit_entry, disable_triggers, fill

pytestmark = pytest.mark.promise("P3", "P14")

WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """A fresh process's worth of app (its own store and tile cache) on a free port."""
    c = build(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(container=c), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1/ledger"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        c.close()


def _rewrite_with_the_key(c: Container, keep: int, drop_owner: str | None) -> None:
    """The operator (or a key thief): rebuild the log from the first `keep` entries minus those
    filed under `drop_owner`, and re-sign a checkpoint of it with the real key."""
    bodies = c.ledger_store.entries(0, keep)
    kept = [
        (body, owner)
        for i, body in enumerate(bodies)
        if (owner := _owner(c, i)) != drop_owner or drop_owner is None
    ]
    disable_triggers(c.engine)
    with c.engine.begin() as conn:
        for table in LEDGER_TABLES:
            conn.execute(table.delete())
    store = SqlLedgerStore(c.engine)
    store.open()
    store.append_batch(kept)
    signer = load_signer(c.settings.effective_ledger_key_file)
    root = store.root()
    note = signer.sign_checkpoint(Checkpoint(signer.name, store.size, root))
    store.add_checkpoint(store.size, root, note, datetime.now(UTC))


def _owner(c: Container, index: int) -> str | None:
    for idx, _ in c.ledger_store.entries_for_customer("cus_2", index + 1):
        if idx == index:
            return "cus_2"
    return None


def _monitor(state: Path, url: str, key: str | None = None) -> tuple[int, str]:
    options = ["ledger", "monitor", url, "--state", str(state)]
    result = CliRunner().invoke(app, options + (["--key", key] if key else []), env=WIDE)
    return result.exit_code, result.output


def test_monitor_follows_growth_and_catches_a_rollback(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    fill(container, 600, (600,))
    vkey = container.checkpoints.vkey
    state = tmp_path / "monitor.json"
    with serving(settings) as url:
        assert _monitor(state, url, vkey) == (0, _monitor_line(600, container, "first look"))
        fill(container, 900, (900,))
        code, out = _monitor(state, url)
        assert code == 0, out
        assert "size 900" in out
        assert "consistent with size 600" in out
    kept = state.read_text(encoding="utf-8")
    _rewrite_with_the_key(container, 700, None)  # smaller than the 900 the monitor saw
    with serving(settings) as url:
        code, out = _monitor(state, url)
    assert code == EXIT_CODES[TamperDetected], out
    assert "rollback: the log now signs size 700, below the size 900" in out
    assert state.read_text(encoding="utf-8") == kept  # the evidence stays


def _monitor_line(size: int, c: Container, how: str) -> str:
    root = c.ledger_store.root_at(size).hex()
    return f"log verified: checkpoint of size {size} (root {root}), {how}, 0 tiles fetched\n"


def test_monitor_catches_a_fork_signed_with_the_key(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    fill(container, 600, (600,))
    vkey = container.checkpoints.vkey
    with serving(settings) as url, tile_source(url) as source:
        seen = monitor(source, vkey, None).state
    _rewrite_with_the_key(container, 600, "cus_2")  # entries about cus_2 removed ...
    fresh = build(settings)
    try:
        fresh.ledger.append_many([audit_entry(i, None) for i in range(10_000, 10_400)])
        fresh.ledger.stop()
        signer = load_signer(settings.effective_ledger_key_file)
        store = fresh.ledger_store
        note = signer.sign_checkpoint(Checkpoint(signer.name, store.size, store.root()))
        store.add_checkpoint(store.size, store.root(), note, datetime.now(UTC))  # ... regrown
    finally:
        fresh.close()
    with (
        serving(settings) as url,
        tile_source(url) as source,
        pytest.raises(TamperDetected, match="fork"),
    ):
        monitor(source, vkey, seen)


def test_an_old_receipt_is_checked_against_todays_log(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    fill(container, 600, (600,))
    vkey = container.checkpoints.vkey
    receipt = ReceiptService(container.ledger_store, container.checkpoints).export("cus_2")
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    fill(container, 700, (700,))
    with serving(settings) as url:
        seen = MonitorState(vkey, 600, container.ledger_store.root_at(600), receipt["checkpoint"])
        with tile_source(url) as source:
            assert monitor(source, vkey, seen).state.size == 700
        options = ["ledger", "verify-receipt", str(path), "--key", vkey, "--against", url]
        ok = CliRunner().invoke(app, options, env=WIDE)
        assert ok.exit_code == 0, ok.output
        assert "(size 700) is consistent with the receipt's checkpoint (size 600)" in ok.output
    _rewrite_with_the_key(container, 700, "cus_2")
    assert verify_receipt(receipt, vkey).size == 600  # on its own, the old receipt still passes
    with serving(settings) as url:
        bad = CliRunner().invoke(app, [*options[:-1], url], env=WIDE)
    assert bad.exit_code == EXIT_CODES[TamperDetected], bad.output
    assert "not consistent with the one of size 600" in bad.output or "rollback" in bad.output
