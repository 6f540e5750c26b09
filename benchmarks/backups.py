"""Backups: Entrusted's first backup, restore and 7-day purge against restic's and borg's first
backup (and restic's restore) of the same generated tree, in one run.

The tree (`size_mib`, default 500; 50 with `quick`) is one customer's hosted data: a Maildir of
small mail files (2-48 KiB of text, about 40% of the bytes) and a web site of larger files
(0.5-6 MiB, half text and half random bytes, like pages beside images). Each peer encrypts and
compresses as Entrusted does:

- Entrusted: `backups run` on a fresh SQLite installation (tar -> zstd level 3 -> AES-256-GCM
  chunks; `backup_parallel` archives at a time; the customer's record too), then a
  sysadmin's restore of both archives, then, with the injected clock moved seven days on, the
  purge. Extra customers without hosted directories, backed up by a second, untimed run
  (their record archives only), give the purge something to count.
- restic (Debian's): a v2 repository (AES-256 + Poly1305, zstd `auto`), `restic backup`, then
  `restic restore latest`, alternating with Entrusted's restore (after a sync each, best of
  `ROUNDS`; their CPU seconds too, which a busy machine disturbs less than wall time).
- borg (Debian's): `repokey` (AES-256-CTR + HMAC-SHA256), `--compression zstd,3`.

Throughput is the tree's size over wall-clock time. A peer that is not installed reports None.
Targets: Entrusted's first backup >= restic's; Entrusted's restore >= restic's restore.
"""

from __future__ import annotations

import os
import random
import resource
import runpy
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from entrusted.bootstrap import WORKER, build, initialise
from entrusted.config import Settings
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.services.registry_forms import Registration, ServiceRequest

MIB = 1024 * 1024
_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # the same run's floors
ROUNDS = 3  # restores of each kind, alternating; the best one counts
SECRET = "bench-only passphrase"
WORDS = (
    "server",
    "mailbox",
    "invoice",
    "meeting",
    "hosting",
    "update",
    "backup",
    "domain",
    "please",
    "regards",
    "thanks",
    "report",
    "monday",
    "network",
    "customer",
    "support",
    "question",
    "folder",
    "attached",
    "tomorrow",
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _text(rng: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += (" ".join(rng.choices(WORDS, k=12)) + "\n").encode()
    return bytes(out[:size])


def make_tree(root: Path, size_mib: int, seed: int = 15) -> tuple[Path, Path, int]:
    """(Maildir, site directory, file count) of about `size_mib` MiB in all."""
    rng = random.Random(seed)
    maildir = root / "mail" / "example.org" / "bench" / "Maildir"
    site = root / "www" / "bench.example.org"
    budget, files = size_mib * MIB, 0
    mail_bytes = int(budget * 0.4)
    for folder in ("cur", "new", ".Sent/cur", ".Archive/cur"):
        (maildir / folder).mkdir(parents=True)
    written = 0
    while written < mail_bytes:
        folder = rng.choice(("cur", "cur", "new", ".Sent/cur", ".Archive/cur"))
        size = rng.randint(2, 48) * 1024
        (maildir / folder / f"{files}.bench:2,S").write_bytes(_text(rng, size))
        written += size
        files += 1
    site.mkdir(parents=True)
    while written < budget:
        size = rng.randint(MIB // 2, 6 * MIB)
        data = _text(rng, size) if rng.random() < 0.5 else rng.randbytes(size)
        (site / f"asset-{files}.bin").write_bytes(data)
        written += size
        files += 1
    return maildir, site, files


def _timed(argv: list[str], env: dict[str, str]) -> float | None:
    if shutil.which(argv[0]) is None:
        return None
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _restic_env(work: Path) -> dict[str, str]:
    return {**os.environ, "RESTIC_REPOSITORY": str(work / "restic"), "RESTIC_PASSWORD": SECRET}


def _restic(tree: Path, work: Path) -> float | None:
    if shutil.which("restic") is None:
        return None
    env = _restic_env(work)
    subprocess.run(
        ["restic", "init", "--repository-version", "2"], env=env, check=True, capture_output=True
    )
    return _timed(["restic", "backup", "--compression", "auto", str(tree)], env)


def _restic_restore(work: Path, n: int) -> float | None:
    target = str(work / f"restic-out-{n}")
    return _timed(["restic", "restore", "latest", "--target", target], _restic_env(work))


def _cpu(children: bool = False) -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _best(times: list[float | None]) -> float | None:
    return min((t for t in times if t), default=None)


def _borg(tree: Path, work: Path) -> float | None:
    if shutil.which("borg") is None:
        return None
    env = {**os.environ, "BORG_PASSPHRASE": SECRET, "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}
    repo = str(work / "borg")
    subprocess.run(
        ["borg", "init", "-e", "repokey", repo], env=env, check=True, capture_output=True
    )
    return _timed(["borg", "create", "--compression", "zstd,3", f"{repo}::first", str(tree)], env)


def _rate(mib: float, seconds: float | None) -> float | None:
    return None if not seconds else round(mib / seconds, 1)


def run(size_mib: int = 500, quick: bool = False) -> dict[str, Any]:
    size_mib = 50 if quick and size_mib == 500 else size_mib
    extra_customers = 20 if quick else 200
    with tempfile.TemporaryDirectory(prefix="entrusted-bench-backups-") as tmp:
        work = Path(tmp)
        maildir, site, files = make_tree(work / "tree", size_mib)
        tree_bytes = sum(p.stat().st_size for p in (work / "tree").rglob("*") if p.is_file())
        tree_mib = tree_bytes / MIB
        settings = Settings(
            data_dir=work / "data",
            database_url=f"sqlite:///{work / 'data' / 'entrusted.db'}",
            staff_totp_required=False,
            mail_transport="directory",
            sms_transport="directory",
            mail_root_template=str(work / "tree" / "mail" / "%d" / "%n" / "Maildir"),
            web_root_template=str(work / "tree" / "www" / "%n"),
            # Restores land beside restic's (`restic-out-N`), in the same parent directory:
            # ext4 places a new directory's files by its parent, and on a busy filesystem
            # inode allocation (skipping recently deleted inodes) was most of a Maildir's
            # restore, so a different parent measured the filesystem, not the restore.
            restore_root=work,
        )
        initialise(settings)
        clock = Clock()
        c = build(settings, clock=clock)
        try:
            signup = Actor(ActorKind.SERVICE, "signup")
            c.registry.register(signup, Registration(
                "Muster", "Bench", "bench.holder@example.com", "044 000 00 01", None,
                (ServiceRequest("mailbox", "bench@example.org"),
                 ServiceRequest("website", "bench.example.org")),
            ))  # fmt: skip
            started = time.perf_counter()
            report = c.backups.runner.run(WORKER)
            ours = time.perf_counter() - started
            # More archives for the purge to destroy (records only; a second, untimed run).
            for n in range(extra_customers):
                c.registry.register(signup, Registration(
                    "Muster", f"Extra{n}", f"extra{n}@example.com", None, None, ()))  # fmt: skip
            more = c.backups.runner.run(WORKER)
            restic_backup = _restic(work / "tree", work)
            borg_backup = _borg(work / "tree", work)
            member = c.staff.add("bench.sysadmin", "Bench Sysadmin", ["sysadmin"], SECRET)
            admin = Actor(ActorKind.STAFF, member.id, frozenset({Role.SYSADMIN}))
            hosted = [a for a in c.backups.access.archives(admin) if a.service_id is not None]
            # Restores alternate with restic's, each after a sync (nobody pays for the other's
            # writeback), best of `ROUNDS` each: on a shared machine one run varies by 3x.
            ours_restore: list[float] = []
            theirs_restore: list[float | None] = []
            cpu = {"ours": 0.0, "restic": 0.0}
            for n in range(ROUNDS):
                os.sync()
                started, cpu_before = time.perf_counter(), _cpu()
                for archive in hosted:
                    target = f"{archive.id}-{n}"
                    c.backups.access.restore(admin, archive.id, target, incident="BENCH-1")
                ours_restore.append(time.perf_counter() - started)
                cpu["ours"] += _cpu() - cpu_before
                if restic_backup is not None:
                    os.sync()
                    cpu_before = _cpu(children=True)
                    theirs_restore.append(_restic_restore(work, n))
                    cpu["restic"] += _cpu(children=True) - cpu_before
            restore, restic_restore = min(ours_restore), _best(theirs_restore)
            clock.now += timedelta(days=8)
            started = time.perf_counter()
            purged = c.backups.purge.purge(WORKER)
            purge = time.perf_counter() - started
            sealed = report.bytes
        finally:
            c.close()
        load = os.getloadavg()[0]
    return {
        "tree_mib": round(tree_mib, 1),
        "files": files,
        "entrusted_mib_per_s": _rate(tree_mib, ours),
        "restic_mib_per_s": _rate(tree_mib, restic_backup),
        "borg_mib_per_s": _rate(tree_mib, borg_backup),
        "restore_mib_per_s": _rate(tree_mib, restore),
        "restic_restore_mib_per_s": _rate(tree_mib, restic_restore),
        "purge_archives_per_s": round(purged.archives / purge, 1) if purge else None,
        # CPU seconds per restore (user + system), steadier than wall time on a busy machine
        "restore_cpu_s": round(cpu["ours"] / ROUNDS, 2),
        "restic_restore_cpu_s": round(cpu["restic"] / ROUNDS, 2) if theirs_restore else None,
        "load_average": round(load, 2),
        "archives": len(report.taken) + len(more.taken),
        "sealed_mib": round(sealed / MIB, 1),
        "targets": {
            "backup_at_least_restic": None if restic_backup is None else ours <= restic_backup,
            "restore_at_least_restic": (
                None if restic_restore is None else restore <= restic_restore
            ),
        },
        "paths": [str(maildir.relative_to(work)), str(site.relative_to(work))],
        **_floors["floors"](None, quick),
    }
