"""`entrusted ledger verify | checkpoint | prove | export | verify-receipt` through Typer, on
SQLite and PostgreSQL: clean logs pass, tampered ones name the first bad entry and exit 9,
and receipts verify with nothing but the public key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner, Result

from entrusted.adapters.db import tables as t
from entrusted.bootstrap import Container
from entrusted.crypto.signing import NoteSigner, verify_note
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import EXIT_CODES
from entrusted.entrypoints.cli.ledger import app as ledger_app
from entrusted.entrypoints.cli.main import app
from entrusted.errors import InvalidInput, NotFound, TamperDetected
from entrusted.services.registry_forms import Registration
from tests.integration.ledger_support import audit_entry, disable_triggers, fill

pytestmark = pytest.mark.promise("P3", "P14")

SIGNUP = Actor(ActorKind.SERVICE, "signup")

WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


@dataclass
class Cli:
    runner: CliRunner
    options: list[str]

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, [*self.options, *args], env=WIDE)


@pytest.fixture
def cli(container: Container) -> Cli:
    fill(container, 600, (300,))
    container.ledger.stop()
    s = container.settings
    return Cli(
        CliRunner(), ["--data-dir", str(s.data_dir), "--database-url", s.effective_database_url]
    )


def test_verify_checkpoint_and_prove(cli: Cli, container: Container) -> None:
    ok = cli("ledger", "verify")
    assert ok.exit_code == 0, ok.output
    assert "ledger verified: 600 entries, 4 tiles, 1 checkpoints" in ok.output
    assert "processes" not in ok.output  # 600 entries: too few to share
    alone = cli("ledger", "verify", "--one-process")
    assert alone.exit_code == 0, alone.output
    assert "ledger verified: 600 entries, 4 tiles, 1 checkpoints" in alone.output
    note = cli("ledger", "checkpoint")
    assert note.exit_code == 0, note.output
    assert verify_note(note.stdout, container.checkpoints.vkey).size == 600
    proof = cli("ledger", "prove", "450")
    assert proof.exit_code == 0, proof.output
    assert "entry 450 of 600" in proof.output
    assert '"resource_id"' not in proof.output  # the canonical entry is shown, pretty-printed
    assert '"id": "mbx_450"' in proof.output
    assert "verifies: yes" in proof.output
    older = cli("ledger", "prove", "5", "--size", "300")
    assert older.exit_code == 0, older.output
    assert "entry 5 of 300" in older.output
    missing = cli("ledger", "prove", "300", "--size", "300")
    assert missing.exit_code == EXIT_CODES[NotFound]


def test_tampering_names_the_first_bad_entry(cli: Cli, container: Container) -> None:
    disable_triggers(container.engine)
    with container.engine.begin() as conn:
        for idx in (517, 260):
            conn.execute(
                t.ledger_entry.update().where(t.ledger_entry.c.idx == idx).values(body=b"{}")
            )
    result = cli("ledger", "verify")
    assert result.exit_code == EXIT_CODES[TamperDetected]
    assert "first bad entry: 260" in result.output
    assert "entry 260 does not hash" in result.output


def registered(container: Container, entries: int) -> str:
    """A registered customer with `entries` more ledger entries filed under them."""
    form = Registration(last_name="Example", first_name="Cleo", email="cleo@example.com")
    customer_id = container.registry.register(SIGNUP, form).customer_id
    container.ledger.append_many([audit_entry(700 + i, customer_id) for i in range(entries)])
    return customer_id


def test_export_and_verify_receipt_offline(cli: Cli, container: Container, tmp_path: Path) -> None:
    customer = registered(container, 150)
    receipt = tmp_path / "receipt.json"
    exported = cli("ledger", "export", "--customer", customer, "--output", str(receipt))
    assert exported.exit_code == 0, exported.output
    assert json.loads(receipt.read_text())["customer"] == customer
    about = len(json.loads(receipt.read_text())["entries"])
    assert about > 150
    assert cli("ledger", "export", "--customer", customer).stdout.startswith("{")
    pub = Path(f"{container.settings.effective_ledger_key_file}.pub")
    vkey = pub.read_text().strip()
    # No data directory and an unreachable database: verify-receipt needs neither.
    nowhere = tmp_path / "nowhere"
    offline = Cli(
        CliRunner(), ["--data-dir", str(nowhere), "--database-url", "sqlite:////nonexistent/x.db"]
    )
    for key in (str(pub), vkey):
        result = offline("ledger", "verify-receipt", str(receipt), "--key", key)
        assert result.exit_code == 0, result.output
        assert f"receipt verified: {about} entries about {customer}" in result.output
    assert not nowhere.exists()
    wrong = offline(
        "ledger", "verify-receipt", str(receipt), "--key", NoteSigner.generate("x").vkey
    )
    assert wrong.exit_code == EXIT_CODES[TamperDetected]
    assert "does not verify" in wrong.output
    data = json.loads(receipt.read_text())
    data["entries"][3]["inclusion_proof"].pop()
    receipt.write_text(json.dumps(data))
    truncated = offline("ledger", "verify-receipt", str(receipt), "--key", vkey)
    assert truncated.exit_code == EXIT_CODES[TamperDetected]
    assert "inclusion proof is malformed" in truncated.output
    receipt.write_text("{not json")
    garbled = offline("ledger", "verify-receipt", str(receipt), "--key", vkey)
    assert garbled.exit_code == EXIT_CODES[InvalidInput]
    assert "is not JSON" in garbled.output
    no_key = offline("ledger", "verify-receipt", str(receipt), "--key", str(tmp_path / "none.pub"))
    assert no_key.exit_code == EXIT_CODES[InvalidInput]


def test_export_for_a_malformed_or_unknown_customer_writes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    """Trial finding: an e-mail or an unknown id exported a receipt for nobody, exit 0. Now a
    malformed id is a usage error (the shared id check) and an unknown one NotFound; no file."""
    receipt = tmp_path / "receipt.json"
    malformed = cli("ledger", "export", "--customer", "q5@example.com", "-o", str(receipt))
    assert malformed.exit_code == 2, malformed.output
    assert "q5@example.com" not in malformed.output
    unknown = cli("ledger", "export", "--customer", "cus_0000000000000000", "-o", str(receipt))
    assert unknown.exit_code == EXIT_CODES[NotFound], unknown.output
    assert not receipt.exists()


def test_every_command_and_option_has_help() -> None:
    group = typer.main.get_command(ledger_app)
    commands = group.commands  # type: ignore[attr-defined]
    assert set(commands) == {
        "verify",
        "checkpoint",
        "prove",
        "export",
        "verify-receipt",
        "monitor",
        "adopt-record",
    }
    for name, command in commands.items():
        assert command.help, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name} has no help"


def test_verify_on_an_empty_log(container: Container) -> None:
    s = container.settings
    result = CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(s.data_dir),
            "--database-url",
            s.effective_database_url,
            "ledger",
            "verify",
        ],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert "ledger verified: 0 entries" in result.output
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.ledger_entry)).scalar() == 0


@pytest.mark.slow
def test_a_large_log_is_verified_in_two_processes(container: Container) -> None:
    """The command as operators and the worker run it: from PARALLEL_MIN entries on a machine
    with two cores (CI's has two), a second process takes part (a silent fall-back to one
    would only show as a warning and half the speed), and a tampered entry in the second
    process's share is still named."""
    from entrusted.adapters.db.ledger_verify import PARALLEL_MIN, share_start

    size = PARALLEL_MIN + 1000
    templates = [(audit_entry(i, f"cus_{i % 7}").to_bytes(), f"cus_{i % 7}") for i in range(7)]
    marker = b'"nonce":"'
    for start in range(0, size, 20_000):
        batch = []
        for i in range(start, min(size, start + 20_000)):
            body, owner = templates[i % 7]
            at = body.index(marker) + len(marker)  # a fresh nonce: no two entries alike
            batch.append((body[:at] + f"{i:064x}".encode() + body[at + 64 :], owner))
        container.ledger.append_raw(batch)
    container.checkpoints.sign(force=True)
    container.ledger.stop()
    s = container.settings
    cli = Cli(
        CliRunner(), ["--data-dir", str(s.data_dir), "--database-url", s.effective_database_url]
    )
    ok = cli("ledger", "verify")
    assert ok.exit_code == 0, ok.output
    assert f"ledger verified: {size:,} entries" in ok.output
    assert "in 2 processes" in ok.output
    bad = size - 2000  # inside the second process's share
    assert share_start(size - size % 256, None) < bad
    disable_triggers(container.engine)
    where = t.ledger_entry.c.idx == bad
    with container.engine.begin() as conn:
        body = conn.execute(sa.select(t.ledger_entry.c.body).where(where)).scalar_one()
        changed = body.replace(b"support", b"sUpport", 1)
        conn.execute(t.ledger_entry.update().where(where).values(body=changed))
    tampered = cli("ledger", "verify")
    assert tampered.exit_code == EXIT_CODES[TamperDetected], tampered.output
    assert f"first bad entry: {bad}" in tampered.output
