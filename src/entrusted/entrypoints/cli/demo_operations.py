"""The demo's step for running Entrusted at a hoster (issue 17): the systemd units and the
Dovecot drop-in files written under the demo's data directory, and the keys sealed under a
passphrase (the backup names kinds and ids, never material; the backup itself is ledgered)."""

from __future__ import annotations

from faker import Faker

from entrusted.adapters.mail.dovecot_config import DovecotLayout, dovecot_files, write_files
from entrusted.bootstrap import Container
from entrusted.bootstrap.key_backup import collect_keys, record, summary
from entrusted.crypto.key_backup import seal
from entrusted.crypto.keyfiles import create_private_file
from entrusted.entrypoints.cli.context import console, operator_actor
from entrusted.entrypoints.cli.deploy_units import Layout, render
from entrusted.services.outcomes import Outcome

DEMO_PASSPHRASE = "demo key backup passphrase"  # noqa: S105 - a published demo value, fake keys


def operations_step(c: Container, fake: Faker) -> None:  # noqa: ARG001 - the steps' signature
    out = c.settings.data_dir / "hoster"
    systemd = out / "systemd"
    systemd.mkdir(parents=True, exist_ok=True)
    units = render(Layout())
    for name, text in units.items():
        (systemd / name).write_text(text, encoding="utf-8")
    console.print(f"  systemd units ({', '.join(sorted(units))}) in {systemd}", soft_wrap=True)
    hook = f"http://127.0.0.1:{c.settings.bind_port}"
    written = write_files(out / "dovecot", dovecot_files(DovecotLayout(hook)), force=True)
    console.print(f"  Dovecot drop-in files ({len(written)}) in {out / 'dovecot'}", soft_wrap=True)
    keys = collect_keys(c.settings)
    backup = out / "entrusted-keys.backup"
    backup.unlink(missing_ok=True)
    create_private_file(backup, seal(keys, DEMO_PASSPHRASE, c.clock()), "backup file")
    record(c, operator_actor(), Outcome.KEYS_BACKED_UP, f"key backup: {summary(keys)}")
    console.print(f"  keys sealed in {backup} (passphrase {DEMO_PASSPHRASE!r}): {summary(keys)}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    console.print("  served: /healthz (alive), /readyz (database, ledger, keys, SMTP), "
                  "/metrics (Prometheus, loopback or metrics_token_file)")  # fmt: skip
