"""`entrusted keys backup | restore` through Typer, on SQLite and PostgreSQL: the key files
sealed under a passphrase, wiped, written back, and then the ledger still verifies and a
customer's details still decrypt; a wrong passphrase, a tampered file and a different key in
the way are each refused with nothing written, and every backup and restore is ledgered with
key ids only."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from entrusted.bootstrap import Container, build
from entrusted.bootstrap.key_backup import PENDING_RESTORE, restore_keys, roll_over
from entrusted.config import Settings
from entrusted.crypto.envelope import MasterKey, master_key_file_bytes
from entrusted.crypto.key_backup import describe, unseal
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.cli.context import EXIT_CODES
from entrusted.entrypoints.cli.main import app
from entrusted.errors import Conflict, InvalidInput, TamperDetected
from entrusted.services.outcomes import Outcome
from entrusted.services.registry_forms import Registration
from tests.conftest import FakeClock
from tests.integration.ledger_support import fill
from tests.unit.registry_world import OPERATOR, SIGNUP, customer

pytestmark = pytest.mark.promise("P2", "P3")

WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
PASSPHRASE = "correct horse battery staple"


@dataclass
class World:
    c: Container
    settings: Settings
    runner: CliRunner
    passphrase: Path
    customer_id: str
    tmp: Path

    def cli(self, *args: str, data_dir: Path | None = None, stdin: str | None = None) -> Result:
        s = self.settings
        options = ["--data-dir", str(data_dir or s.data_dir)]
        options += ["--database-url", s.effective_database_url]
        return self.runner.invoke(app, [*options, *args], env=WIDE, input=stdin)

    def key_files(self, data_dir: Path | None = None) -> dict[str, bytes]:
        d = data_dir or self.settings.data_dir
        return {p.name: p.read_bytes() for p in sorted(d.glob("*.key*"))}

    def entries(self, outcome: Outcome) -> list[AuditEntry]:
        store = self.c.ledger_store
        every = [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]
        return [e for e in every if e.rule == outcome.value]


@pytest.fixture
def w(container: Container, tmp_path: Path) -> World:
    form = Registration("Brunner", "Anna", "anna.brunner@example.com", "044 000 20 01")
    done = container.registry.register(SIGNUP, form)
    fill(container, 40, (40,))
    container.ledger.stop()  # the CLI appends from its own process-like container
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n", encoding="utf-8")
    return World(container, container.settings, CliRunner(), passphrase, done.customer_id, tmp_path)


def _backup(w: World, name: str = "keys.backup") -> Path:
    to = w.tmp / name
    out = w.cli("keys", "backup", "--to", str(to), "--passphrase-file", str(w.passphrase))
    assert out.exit_code == 0, out.output
    return to


def _restore(w: World, backup: Path, *more: str, data_dir: Path | None = None) -> Result:
    args = ["keys", "restore", "--from", str(backup), "--passphrase-file", str(w.passphrase)]
    return w.cli(*args, *more, data_dir=data_dir)


def test_backup_wipe_restore_then_the_ledger_verifies_and_details_decrypt(w: World) -> None:
    before = w.key_files()
    backup = _backup(w)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    text = backup.read_text(encoding="ascii")
    for content in before.values():  # no key material in clear, in any form
        line = content.decode("ascii").strip()
        # the secret after the last ":" or "+": when the secret itself ends in "+" (base64,
        # now and then) the second split leaves "", which is "in" any text and proves nothing
        for secret in (line.split(":")[-1], line.rsplit("+", 1)[-1]):
            if len(secret) >= 16:
                assert secret not in text
    kinds = [k["kind"] for k in describe(backup.read_bytes())]
    assert kinds == ["master", "index", "signing"]
    [entry] = w.entries(Outcome.KEYS_BACKED_UP)
    assert entry.actor_id.startswith("cli:")
    assert w.c.registry_keys().keyring.current.kek_id in entry.reason
    assert "base64" not in entry.reason
    assert "PRIVATE" not in entry.reason

    for name in before:
        (w.settings.data_dir / name).unlink()
    assert w.cli("ledger", "verify").exit_code != 0  # without the keys nothing works

    out = _restore(w, backup)
    assert out.exit_code == 0, out.output
    assert "restore ledgered" in out.output
    assert w.key_files() == before
    for name in before:
        if not name.endswith(".pub"):
            assert stat.S_IMODE((w.settings.data_dir / name).stat().st_mode) == 0o600
    verified = w.cli("ledger", "verify")
    assert verified.exit_code == 0, verified.output
    assert "ledger verified" in verified.output
    assert len(w.entries(Outcome.KEYS_RESTORED)) == 1

    c = build(w.settings, clock=FakeClock())  # a fresh process reading the restored keys
    try:
        record = c.registry.details(customer(w.customer_id), w.customer_id)
        assert record.details.email == "anna.brunner@example.com"
    finally:
        c.close()


def test_the_passphrase_is_asked_twice_and_must_match(w: World) -> None:
    to = w.tmp / "prompted.backup"
    mismatch = w.cli("keys", "backup", "--to", str(to), stdin=f"{PASSPHRASE}\nother one!!!!\n")
    assert mismatch.exit_code != 0
    assert not to.exists()
    ok = w.cli("keys", "backup", "--to", str(to), stdin=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    assert ok.exit_code == 0, ok.output
    again = w.cli("keys", "backup", "--to", str(to), "--passphrase-file", str(w.passphrase))
    assert again.exit_code == EXIT_CODES[Conflict]
    assert "--force" in again.output
    short = w.tmp / "short"
    short.write_text("too short\n", encoding="utf-8")
    weak = w.cli("keys", "backup", "--to", str(w.tmp / "weak"), "--passphrase-file", str(short))
    assert weak.exit_code == EXIT_CODES[InvalidInput]
    assert not (w.tmp / "weak").exists()
    assert len(w.entries(Outcome.KEYS_BACKED_UP)) == 1


def test_a_wrong_passphrase_writes_nothing(w: World) -> None:
    backup = _backup(w)
    empty = w.tmp / "empty"
    wrong = w.tmp / "wrong"
    wrong.write_text("not the passphrase at all\n", encoding="utf-8")
    args = ["keys", "restore", "--from", str(backup), "--passphrase-file", str(wrong)]
    out = w.cli(*args, data_dir=empty)
    assert out.exit_code == EXIT_CODES[InvalidInput]
    assert "wrong passphrase" in out.output
    assert not empty.exists()


def test_an_endless_file_is_refused_without_reading_it(w: World) -> None:
    # /dev/zero as the backup or the passphrase file used to fill the memory (trial finding)
    backup = _backup(w)
    empty = w.tmp / "empty"
    args = ["keys", "restore", "--from", "/dev/zero", "--passphrase-file", str(w.passphrase)]
    out = w.cli(*args, data_dir=empty)
    assert out.exit_code == EXIT_CODES[InvalidInput], out.output
    assert "not a regular file" in out.output
    args = ["keys", "restore", "--from", str(backup), "--passphrase-file", "/dev/zero"]
    out = w.cli(*args, data_dir=empty)
    assert out.exit_code == EXIT_CODES[InvalidInput], out.output
    assert "not a regular file" in out.output
    assert not empty.exists()


@pytest.mark.parametrize("where", ["ciphertext", "key id"])
def test_a_tampered_backup_is_refused_and_writes_nothing(w: World, where: str) -> None:
    backup = _backup(w)
    magic, header, sealed = backup.read_bytes().split(b"\n")[:3]
    if where == "ciphertext":
        raw = bytearray(base64.b64decode(sealed))
        raw[len(raw) // 2] ^= 1
        sealed = base64.b64encode(bytes(raw))
    else:
        parsed = json.loads(header)
        parsed["keys"][0]["id"] = "00000000"
        header = json.dumps(parsed, sort_keys=True).encode("ascii")
    backup.write_bytes(b"\n".join((magic, header, sealed, b"")))
    empty = w.tmp / "empty"
    out = _restore(w, backup, data_dir=empty)
    assert out.exit_code == EXIT_CODES[TamperDetected], out.output
    assert "altered" in out.output
    assert not empty.exists()


def test_a_different_key_in_the_way_needs_force(w: World) -> None:
    backup = _backup(w)
    before = w.key_files()
    index = w.settings.effective_index_key_file
    index.unlink()
    index.write_bytes(b"entrusted-index-key-v1:" + base64.b64encode(os.urandom(32)) + b"\n")
    index.chmod(0o600)
    changed = w.key_files()
    out = _restore(w, backup)
    assert out.exit_code == EXIT_CODES[Conflict]
    assert str(index) in out.output
    assert w.key_files() == changed  # nothing written, not even the missing ones
    forced = _restore(w, backup, "--force")
    assert forced.exit_code == 0, forced.output
    assert w.key_files() == before
    assert len(w.entries(Outcome.KEYS_RESTORED)) == 1


# An empty machine: a data directory without the SQLite file (PostgreSQL would be elsewhere).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_restore_without_a_ledger_is_ledgered_at_the_next_start(
    w: World, settings: Settings
) -> None:
    backup = _backup(w)
    fresh = w.tmp / "fresh" / "data"
    out = w.runner.invoke(
        app,
        ["--data-dir", str(fresh), "keys", "restore", "--from", str(backup),
         "--passphrase-file", str(w.passphrase)],
        env=WIDE,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "NOT ledgered yet" in out.output
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert w.key_files(fresh) == w.key_files()
    assert stat.S_IMODE((fresh / PENDING_RESTORE).stat().st_mode) == 0o600
    w.c.close()
    database = Path(settings.effective_database_url.removeprefix("sqlite:///"))
    shutil.copy(database, fresh / "entrusted.db")  # the database comes back on its own
    # A restored data dir has no signed local record: the operator adopts one (docs/keys.md).
    adopt = w.runner.invoke(app, ["--data-dir", str(fresh), "ledger", "adopt-record"], env=WIDE)
    assert adopt.exit_code == 0, adopt.output
    moved = w.settings.model_copy(update={"data_dir": fresh, "database_url": None})
    c = build(moved, clock=FakeClock())
    try:
        notes = c.start("test")
        assert any("ledgered the key restore" in n for n in notes)
        assert not (fresh / PENDING_RESTORE).exists()
        store = c.ledger_store
        every = [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]
        [restored] = [e for e in every if e.rule == Outcome.KEYS_RESTORED.value]
        assert "ledgered at the next start" in restored.reason
    finally:
        c.close()


def test_a_destroyed_first_key_is_skipped_and_keys_go_back_by_key_id(w: World) -> None:
    """After a rollover the retired first key `ledger.key` may be destroyed (docs/keys.md):
    the backup skips it, and the restore puts the later key under its own key id, not
    under `ledger.key` because it is now the first signing key in the file."""
    rollover = roll_over(w.c, OPERATOR, w.c.clock())
    assert w.cli("ledger", "checkpoint").exit_code == 0  # the new key signs alone: old retired
    ledger_key = w.settings.effective_ledger_key_file
    ledger_key.unlink()
    Path(f"{ledger_key}.pub").unlink()
    before = w.key_files()
    backup = _backup(w)
    listed = describe(backup.read_bytes())
    assert [k["kind"] for k in listed] == ["master", "index", "signing", "signing-history"]
    assert listed[2]["name"] == rollover.key_path.name
    for name in before:
        (w.settings.data_dir / name).unlink()
    out = _restore(w, backup)
    assert out.exit_code == 0, out.output
    assert w.key_files() == before
    assert not ledger_key.exists()
    verified = w.cli("ledger", "verify")
    assert verified.exit_code == 0, verified.output


def test_a_forced_restore_that_fails_midway_changes_nothing(w: World) -> None:
    """Every key is written to a temporary file first; a failure on the second one (its
    directory cannot be made: a file is in the way) leaves every file as it was."""
    backup = unseal(_backup(w).read_bytes(), PASSPHRASE)
    master = w.settings.effective_master_key_file
    master.unlink()
    master.write_bytes(master_key_file_bytes(MasterKey.generate()))
    master.chmod(0o600)
    blocked = w.tmp / "blocked"
    blocked.write_text("a file where a directory would go\n", encoding="utf-8")
    moved = w.settings.model_copy(update={"index_key_file": blocked / "index.key"})
    before = w.key_files()
    listing = sorted(p.name for p in w.settings.data_dir.iterdir())
    with pytest.raises(OSError):
        restore_keys(moved, backup, force=True)
    assert w.key_files() == before  # the different master key is still there
    assert sorted(p.name for p in w.settings.data_dir.iterdir()) == listing  # no temp left
    assert blocked.read_text(encoding="utf-8").startswith("a file")
    assert restore_keys(w.settings, backup, force=True)  # the same restore, unblocked
    assert master.read_bytes() != before["master.key"]
