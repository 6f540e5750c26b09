"""Crash safety: a process appending from 8 threads (and signing checkpoints) is killed with
SIGKILL at random moments, 20 times, restarting on the same SQLite file. Every entry it
acknowledged must be there afterwards with the leaf hash it was acknowledged with, the log
must open (its start-up check passes) and `ledger verify` must pass."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.bootstrap import initialise
from entrusted.config import Settings
from entrusted.domain.ledger import leaf_hash

pytestmark = pytest.mark.promise("P3")

KILLS = 20

CHILD = """
import os, sys, threading, time
from datetime import UTC, datetime
from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.joblock import FileJobLock
from entrusted.adapters.ledger_record import LocalRecordFile
from entrusted.crypto.signing import load_signer
from entrusted.domain.audit import AuditEntry
from entrusted.services.ledger import CheckpointService
from pathlib import Path

url, key = sys.argv[1], sys.argv[2]
store = SqlLedgerStore(make_engine(url))
ledger = GroupCommitLedger(store)
ledger.start()
signer, data = load_signer(key), Path(key).parent
checkpoints = CheckpointService(
    store, signer, lambda: datetime.now(UTC), FileJobLock(data / "locks"),
    LocalRecordFile(data / "ledger.record", signer),
)
out = threading.Lock()

def append(k):
    while True:
        entry = AuditEntry(
            time=datetime.now(UTC), actor_kind="staff", actor_id=f"stf_{k}",
            actor_roles=("support",), action="list_metadata", resource_kind="mailbox_metadata",
            resource_id="mbx_1", owner=f"cus_{k}", decision="allow", rule="r",
            reason="crash test", nonce=os.urandom(32),
        )
        receipt = ledger.append(entry)
        with out:
            sys.stdout.write(f"{receipt.index} {receipt.leaf_hash.hex()}\\n")
            sys.stdout.flush()

for k in range(8):
    threading.Thread(target=append, args=(k,), daemon=True).start()
while True:
    time.sleep(0.01)
    checkpoints.sign()
"""


def _run_once(url: str, key: Path, rng: random.Random) -> list[str]:
    """Start an appender, kill it mid-stream, return the acknowledgements it printed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    lines: list[str] = []
    first = threading.Event()
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as child:

        def read() -> None:
            assert child.stdout is not None
            for raw in child.stdout:
                lines.append(raw.decode())
                first.set()

        reader = threading.Thread(target=read)
        reader.start()
        started = first.wait(30)
        if started:
            time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        reader.join()
    assert started, "the appender acknowledged nothing within 30 s"
    assert child.returncode == -signal.SIGKILL
    return [line for line in lines if line.endswith("\n")]  # a torn last line was never acked


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_entry(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    initialise(settings)
    url = settings.effective_database_url
    rng = random.Random(7)
    acked: dict[int, str] = {}
    for _ in range(KILLS):
        for line in _run_once(url, settings.effective_ledger_key_file, rng):
            index, digest = line.split()
            assert int(index) not in acked, f"index {index} acknowledged twice"
            acked[int(index)] = digest
    engine = make_engine(url)
    try:
        store = SqlLedgerStore(engine)
        store.open()  # start-up check: the tiles rebuild the root, consistent with checkpoints
        assert len(acked) > KILLS
        assert store.size >= max(acked) + 1
        bodies = store.entries(0, store.size)
        for index, digest in acked.items():
            assert leaf_hash(bodies[index]).hex() == digest, f"entry {index} changed"
        vkey = settings.effective_ledger_key_file.with_suffix(".key.pub").read_text().strip()
        report = verify_ledger(engine, vkey)
        assert report.size == store.size
        assert report.checkpoints > 0
    finally:
        engine.dispose()
