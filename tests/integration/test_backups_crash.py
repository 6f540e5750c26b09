"""A backup run and a purge killed mid-way (issue 15: crashes mid-backup and mid-purge), on
SQLite and PostgreSQL, each a real `entrusted backups ...` process sent SIGKILL.

The run, killed while it seals a large web site: no half archive is listed or restorable
(its row stays `writing`, its bytes a `.part` file), every archive that is listed is whole
(its stored bytes hash as catalogued and it restores), the next run seals everything, and
the purge later removes the half archive's file too. The purge, killed while it deletes a
day's files: the day's key is already gone, and the next run finishes and ledgers it once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entrusted.bootstrap import WORKER
from entrusted.domain.backups import ArchiveStatus
from entrusted.domain.backups import Source as Kind
from entrusted.errors import Conflict
from entrusted.services.registry_forms import Registration
from tests.conftest import count_rows
from tests.integration.test_backups import World, sysadmin, tree_digest, world
from tests.integration.test_registry_sql import ledgered
from tests.unit.registry_world import SIGNUP

pytestmark = pytest.mark.promise("P15", "P16")

__all__ = ["world"]  # the fixture, shared with test_backups.py

ENTRUSTED = Path(sys.executable).with_name("entrusted")
BIG = 160 << 20  # incompressible bytes: long enough to be caught mid-write


def child_env(w: World) -> dict[str, str]:
    s = w.c.settings
    return {
        **os.environ,
        "ENTRUSTED_MAIL_TRANSPORT": "directory",
        "ENTRUSTED_SMS_TRANSPORT": "directory",
        "ENTRUSTED_MAIL_ROOT_TEMPLATE": s.mail_root_template,
        "ENTRUSTED_FTP_ROOT_TEMPLATE": s.ftp_root_template,
        "ENTRUSTED_WEB_ROOT_TEMPLATE": s.web_root_template,
        "ENTRUSTED_BACKUP_PARALLEL": "1",  # one archive at a time: the site is sealed alone
    }


def child_argv(w: World, command: str) -> list[str]:
    s = w.c.settings
    argv = [str(ENTRUSTED), "--data-dir", str(s.data_dir), "--database-url"]
    return [*argv, str(s.database_url), "backups", command]


def run_in_a_process(w: World) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        child_argv(w, "run"), env=child_env(w), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def kill_mid_write(process: subprocess.Popen[bytes], store: Path) -> None:
    """SIGKILL once a partial archive holds some MiB (the large site being sealed)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        parts = list(store.glob("*.part")) if store.is_dir() else []
        if any(p.stat().st_size > (8 << 20) for p in parts if p.exists()):
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
            return
        time.sleep(0.005)
    _, err = process.communicate(timeout=30)
    pytest.fail(f"the run was not caught mid-write ({process.returncode}): {err.decode()}")


def test_a_run_killed_mid_write_lists_no_half_archive_and_the_next_run_works(
    world: World,
) -> None:
    w = world
    site = w.roots[Kind.WEBSITE]
    with (site / "large.bin").open("wb") as out:
        for _ in range(BIG >> 20):
            out.write(os.urandom(1 << 20))
    store = w.c.settings.effective_backup_dir
    process = run_in_a_process(w)
    kill_mid_write(process, store)
    assert process.returncode == -signal.SIGKILL
    catalog = w.c.backups.purge._p.catalog
    rows = catalog.archives()
    half = [a for a in rows if a.status is ArchiveStatus.WRITING]
    assert len(half) == 1, rows
    assert half[0].source is Kind.WEBSITE
    assert (store / f"{half[0].id}.part").is_file()
    assert not (store / f"{half[0].id}.bkp").exists()
    admin = sysadmin(w)
    listed = w.c.backups.access.archives(admin)
    assert half[0].id not in {a.id for a in listed}
    for archive in listed:  # whatever is listed is whole
        data = (store / f"{archive.id}.bkp").read_bytes()
        assert hashlib.sha256(data).hexdigest() == archive.sha256
        w.c.backups.access.restore(admin, archive.id, f"ok-{archive.id}", incident="INC-K")
    with pytest.raises(Conflict, match="never completed"):
        w.c.backups.access.restore(admin, half[0].id, "half", incident="INC-K")
    assert w.c.backups.purge.status().live_archives == len(listed)
    # The next run seals everything, the site whole.
    report = w.c.backups.runner.run(WORKER)
    assert (len(report.taken), report.failed) == (4, [])
    fresh = next(
        a
        for a in w.c.backups.access.archives(admin)
        if a.source is Kind.WEBSITE and a.id in report.taken
    )
    done = w.c.backups.access.restore(admin, fresh.id, "site", incident="INC-K")
    assert tree_digest(done.target) == tree_digest(site)
    # Its day over, the half archive goes with the others, its partial file too.
    w.clock.now = max(a.destroy_after for a in catalog.archives())
    w.c.backups.purge.purge(WORKER)
    assert not (store / f"{half[0].id}.part").exists()
    assert w.c.backups.purge.status().overdue == []


def test_a_purge_killed_while_deleting_files_is_finished_by_the_next_run(world: World) -> None:
    """The key goes first, in one commit; a purge killed while it deletes the day's files
    leaves no key alive, and the next run deletes the rest and ledgers the destruction once."""
    w = world
    w.clock.now = datetime.now(UTC) - timedelta(days=8)  # due by the child's real clock
    for n in range(150):  # record archives to delete: the purge takes a while
        w.c.registry.register(
            SIGNUP, Registration("Muster", f"Extra{n}", f"extra{n}@example.com", None, None, ())
        )
    w.c.backups.runner.run(WORKER)
    w.c.backups.runner.run(WORKER)
    store = w.c.settings.effective_backup_dir
    files = len(list(store.iterdir()))
    assert files > 300
    process = subprocess.Popen(
        child_argv(w, "purge"), env=child_env(w), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if len(list(store.iterdir())) < files - 20:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    _, err = process.communicate(timeout=30)
    if process.returncode != -signal.SIGKILL:
        pytest.fail(f"the purge was not caught mid-way ({process.returncode}): {err.decode()}")
    assert count_rows(w.c.engine, "backup_key") == 0  # the key went before any file
    left = len(list(store.iterdir()))
    assert 0 < left < files
    assert [e.rule for e in ledgered(w.c)].count("backups.key-destroyed") == 0
    w.clock.now = datetime.now(UTC)
    assert w.c.backups.purge.status().overdue != []  # no evidence yet: still flagged
    report = w.c.backups.purge.purge(WORKER)
    assert report.archives == files
    assert list(store.iterdir()) == []
    assert w.c.backups.purge.status().overdue == []
    assert [e.rule for e in ledgered(w.c)].count("backups.key-destroyed") == 1
