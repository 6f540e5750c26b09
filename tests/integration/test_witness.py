"""Witnesses, end to end on both databases: a real `entrusted witness serve` process on
loopback with its own key and SQLite state. The log submits each checkpoint and publishes the
cosignatures; a restored backup (a rollback done without the key), a rewrite with the key and
a forked log are each refused by the witness, which stops the signer and is ledgered."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from entrusted.adapters.db import tables as t
from entrusted.adapters.witness_store import STATE_FILE, SqliteWitnessStore
from entrusted.bootstrap import LEDGER_RECORD, Container, build, initialise, tile_source
from entrusted.config import Settings
from entrusted.crypto.cosigning import Cosigner
from entrusted.crypto.signing import NoteSigner
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import Checkpoint
from entrusted.entrypoints.cli.context import EXIT_CODES
from entrusted.entrypoints.cli.main import app
from entrusted.errors import TamperDetected
from entrusted.services.ledger_monitor import monitor
from entrusted.services.outcomes import Outcome
from entrusted.services.receipts import ReceiptService
from tests.conftest import FakeClock
from tests.integration.ledger_support import audit_entry, fill
from tests.integration.test_ledger_monitor import _rewrite_with_the_key, serving
from tests.integration.test_ledger_signer import _rollback_without_key
from tests.unit.test_witness import ORIGIN, Log

pytestmark = pytest.mark.promise("P3", "P14")

WITNESS_NAME = "witness.example.org/w1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class WitnessProcess:
    directory: Path
    url: str
    vkey: str

    @property
    def store(self) -> SqliteWitnessStore:
        return SqliteWitnessStore(self.directory / STATE_FILE)

    def refusals(self) -> list[str]:
        return [kind for _, kind, _ in self.store.refusals()]


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[WitnessProcess]:
    """`entrusted witness init`, then `entrusted witness serve` as a process of its own."""
    directory = tmp_path / "witness"
    directory.mkdir()
    init = CliRunner().invoke(app, ["witness", "init", str(directory), "--name", WITNESS_NAME])
    assert init.exit_code == 0, init.output
    vkey = init.output.strip().splitlines()[-1]
    port = _free_port()
    cli = Path(sys.executable).with_name("entrusted")
    log = tmp_path / "witness.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(cli), "witness", "serve", str(directory), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/vkey").text.strip() == vkey:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text(encoding="utf-8", errors="replace")
            assert time.monotonic() < deadline, "the witness did not start"
            time.sleep(0.05)
        yield WitnessProcess(directory, url, vkey)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def witnessed(
    settings: Settings, clock: FakeClock, witness: WitnessProcess
) -> Iterator[tuple[Settings, Container]]:
    """A log that submits every checkpoint to `witness` (quorum 1), which trusts its key."""
    configured = settings.model_copy(
        update={"witnesses": (f"{witness.url} {witness.vkey}",), "witness_quorum": 1}
    )
    initialise(configured)
    c = build(configured, clock=clock)
    trust = CliRunner().invoke(
        app, ["witness", "trust", str(witness.directory), c.checkpoints.vkey]
    )
    assert trust.exit_code == 0, trust.output
    try:
        yield configured, c
    finally:
        c.close()


def test_checkpoints_are_cosigned_and_published(
    witnessed: tuple[Settings, Container], witness: WitnessProcess
) -> None:
    settings, c = witnessed
    fill(c, 600, (300, 600))
    assert witness.store.latest(c.checkpoints.origin).size == 600  # type: ignore[union-attr]
    with serving(settings) as url:
        published = httpx.get(f"{url}/checkpoint").text
    assert c.witness_policy().check(published).keys() == {WITNESS_NAME}
    assert published.startswith(c.ledger_store.latest_checkpoint().note)  # type: ignore[union-attr]
    assert witness.refusals() == []


def _witness_alerts(c: Container) -> list[AuditEntry]:
    store = c.ledger_store
    entries = [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]
    return [
        e
        for e in entries
        if e.resource_id == f"witness/{WITNESS_NAME}" and e.rule == Outcome.LEDGER_TAMPERED.value
    ]


def _assert_stopped(c: Container, reason: str) -> None:
    """The signer refuses from now on, and the alert is in the ledger."""
    c.ledger.append_many([audit_entry(90_000, None)])
    with pytest.raises(TamperDetected, match="signing stopped: a witness reported"):
        c.checkpoints.sign(force=True)
    alerts = _witness_alerts(c)
    assert len(alerts) == 1
    assert reason in alerts[0].reason
    assert alerts[0].decision == "deny"


def test_a_restored_backup_is_refused_by_the_witness_and_stops_the_signer(
    witnessed: tuple[Settings, Container], witness: WitnessProcess, clock: FakeClock
) -> None:
    """Database and data directory restored from before size 2000 (no key needed): the log's
    own checks pass, the witness remembers 2000 and refuses."""
    settings, c = witnessed
    fill(c, 1000, (1000,))
    record = settings.data_dir / LEDGER_RECORD
    old_record = record.read_bytes()
    fill(c, 2000, (2000,))
    c.close()
    _rollback_without_key(c, 1500, 1)
    record.write_bytes(old_record)
    with c.engine.begin() as conn:  # the witness table is restored too
        conn.execute(t.ledger_cosignature.delete())
        conn.execute(t.ledger_witness.delete())
    restarted = build(settings, clock=clock)
    try:
        restarted.ledger.append_many([audit_entry(i, None) for i in range(5000, 6000)])
        with pytest.raises(TamperDetected, match=f"witness {WITNESS_NAME} refused size 2500"):
            restarted.checkpoints.sign(force=True)
        # It first claimed size 0 (409: the witness knows 2000), then proved from 2000 (422).
        assert witness.refusals() == ["STALE_OLD_SIZE", "BAD_PROOF"]
        _assert_stopped(restarted, "no proof that size 2500 extends the size 2000")
    finally:
        restarted.close()


def test_a_rewrite_with_the_key_is_refused_and_stops_the_signer(
    witnessed: tuple[Settings, Container], witness: WitnessProcess, clock: FakeClock
) -> None:
    settings, c = witnessed
    fill(c, 600, (600,))
    c.close()
    _rewrite_with_the_key(c, 600, "cus_2")  # entries about cus_2 removed, re-signed with the key
    (settings.data_dir / LEDGER_RECORD).unlink()  # and the local record, which the key re-signs
    restarted = build(settings, clock=clock)
    try:
        restarted.ledger.append_many([audit_entry(i, None) for i in range(7000, 7500)])
        size = restarted.ledger_store.stored_size()
        with pytest.raises(TamperDetected, match=f"witness {WITNESS_NAME} refused size {size}"):
            restarted.checkpoints.sign(force=True)
        assert witness.refusals() == ["BAD_PROOF"]
        _assert_stopped(restarted, "rewritten or forked history")
    finally:
        restarted.close()


def test_a_forked_log_is_refused_at_the_same_size(
    witnessed: tuple[Settings, Container], witness: WitnessProcess, clock: FakeClock
) -> None:
    """Another view of the same size: a different root signed with the key."""
    settings, c = witnessed
    fill(c, 600, (600,))
    c.close()
    _rewrite_with_the_key(c, 600, "cus_2")
    (settings.data_dir / LEDGER_RECORD).unlink()
    restarted = build(settings, clock=clock)
    try:
        missing = 600 - restarted.ledger_store.stored_size()
        restarted.ledger.append_many([audit_entry(i, None) for i in range(8000, 8000 + missing)])
        with pytest.raises(TamperDetected, match="different root than the one this witness"):
            restarted.checkpoints.sign(force=True)
        assert witness.refusals() == ["ROOT_MISMATCH"]
        assert witness.store.latest(restarted.checkpoints.origin).size == 600  # type: ignore[union-attr]
        _assert_stopped(restarted, "fork: size 600")
    finally:
        restarted.close()


def test_an_unreachable_witness_costs_only_its_cosignature(
    settings: Settings, clock: FakeClock, witness: WitnessProcess
) -> None:
    configured = settings.model_copy(
        update={"witnesses": (f"http://127.0.0.1:{_free_port()} {witness.vkey}",)}
    )
    initialise(configured)
    c = build(configured, clock=clock)
    try:
        fill(c, 300, (300,))
        published = c.checkpoints.published()
        assert published is not None
        assert published.size == 300
        assert c.witness_policy().check(published.note) == {}  # quorum 0: nothing required
        with c.engine.connect() as conn:
            assert conn.execute(sa.select(t.ledger_witness)).all() == []
    finally:
        c.close()


WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def test_receipts_and_the_monitor_check_the_witness_policy(
    witnessed: tuple[Settings, Container], witness: WitnessProcess, tmp_path: Path
) -> None:
    settings, c = witnessed
    fill(c, 600, (600,))
    vkey = c.checkpoints.vkey
    receipt = ReceiptService(c.ledger_store, c.checkpoints).export("cus_2")
    assert c.witness_policy().check(receipt["checkpoint"]).keys() == {WITNESS_NAME}
    assert receipt["earlier_checkpoints"] == []  # its own checkpoint, uncosigned, is not "earlier"
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt), encoding="utf-8")
    check = ["ledger", "verify-receipt", str(path), "--key", vkey, "--witness", witness.vkey]
    ok = CliRunner().invoke(app, check, env=WIDE)
    assert ok.exit_code == 0, ok.output
    assert f"cosigned by: {WITNESS_NAME}" in ok.output
    stranger = Cosigner.generate("witness.example.net/w2").vkey
    two = CliRunner().invoke(app, [*check, "--witness", stranger, "--quorum", "2"], env=WIDE)
    assert two.exit_code == EXIT_CODES[TamperDetected], two.output
    assert "carries 1 valid witness cosignature(s) (witness.example.org/w1)" in two.output
    assert "requires 2 of 2" in two.output
    # A planted violation: the same receipt without its cosignature line.
    stored = c.ledger_store.latest_checkpoint()
    assert stored is not None
    stripped = {**receipt, "checkpoint": stored.note}
    path.write_text(json.dumps(stripped), encoding="utf-8")
    bare = CliRunner().invoke(app, check, env=WIDE)
    assert bare.exit_code == EXIT_CODES[TamperDetected], bare.output
    assert "carries 0 valid witness cosignature(s) (none)" in bare.output
    state = tmp_path / "monitor.json"
    witness_option = ["--witness", witness.vkey]
    with serving(settings) as url:
        seen = CliRunner().invoke(
            app,
            ["ledger", "monitor", url, "--state", str(state), "--key", vkey, *witness_option],
            env=WIDE,
        )
    assert seen.exit_code == 0, seen.output
    assert f"cosigned by: {WITNESS_NAME}" in seen.output


def test_after_a_refused_rewrite_the_monitor_rejects_the_uncosigned_head(
    witnessed: tuple[Settings, Container], witness: WitnessProcess, clock: FakeClock
) -> None:
    settings, c = witnessed
    fill(c, 600, (600,))
    vkey = c.checkpoints.vkey
    policy = c.witness_policy()
    with serving(settings) as url, tile_source(url) as source:
        seen = monitor(source, vkey, None, policy).state
    c.close()
    _rewrite_with_the_key(c, 600, "cus_2")
    (settings.data_dir / LEDGER_RECORD).unlink()
    restarted = build(settings, clock=clock)
    try:
        restarted.ledger.append_many([audit_entry(i, None) for i in range(7000, 7500)])
        with pytest.raises(TamperDetected, match="refused"):
            restarted.checkpoints.sign(force=True)
    finally:
        restarted.close()
    with (
        serving(settings) as url,
        tile_source(url) as source,
        pytest.raises(TamperDetected, match="carries 0 valid witness cosignature"),
    ):
        monitor(source, vkey, seen, policy)
    with (  # without a policy: the proof from the tiles shows the fork
        serving(settings) as url,
        tile_source(url) as source,
        pytest.raises(TamperDetected, match="fork"),
    ):
        monitor(source, vkey, seen)


def test_the_witness_answers_with_the_spec_status_codes(witness: WitnessProcess) -> None:
    """Over HTTP, against the real process: each refusal's status, its kind and its reason."""
    log = Log(NoteSigner.generate(ORIGIN), [f"entry {i}".encode() for i in range(40)])
    trust = CliRunner().invoke(app, ["witness", "trust", str(witness.directory), log.signer.vkey])
    assert trust.exit_code == 0, trust.output

    def post(body: str) -> httpx.Response:
        return httpx.post(f"{witness.url}/add-checkpoint", content=body.encode())

    ok = post(log.request(0, 30))
    assert ok.status_code == 200
    assert ok.text.startswith(f"\u2014 {WITNESS_NAME} ")
    rollback = post(log.request(20, 20))
    assert (rollback.status_code, rollback.text) == (409, "30\n")
    assert rollback.headers["content-type"] == "text/x.tlog.size"
    assert rollback.headers["x-witness-refusal"] == "stale-old-size"
    assert "rollback: this witness last cosigned size 30" in rollback.headers["x-witness-reason"]
    rewritten = Log(log.signer, log.leaves[:5] + log.leaves[6:] + [b"x"])
    bad_proof = post(rewritten.request(30, 40))
    assert (bad_proof.status_code, bad_proof.headers["x-witness-refusal"]) == (422, "bad-proof")
    assert "no proof that size 40 extends the size 30" in bad_proof.text
    impostor = Log(NoteSigner.generate(ORIGIN), log.leaves)
    assert post(impostor.request(30, 40)).status_code == 403
    stranger = NoteSigner.generate("other.example.com/log")
    foreign = stranger.sign_checkpoint(Checkpoint("other.example.com/log", 3, log.root(3)))
    assert post("old 0\n\n" + foreign).status_code == 404
    assert post("old 5\n\n" + log.note(3)).status_code == 400
    assert witness.refusals() == [
        "STALE_OLD_SIZE",
        "BAD_PROOF",
        "BAD_SIGNATURE",
        "UNKNOWN_LOG",
        "MALFORMED",
    ]
