"""`entrusted keys ...`: master-key status and rotation (P2), the passphrase-sealed key
backup and its restore, and the ledger signing key's rollover (docs/keys.md).

Rotation, step by step: create a new key file (`entrusted keys new-master-key PATH`), point
`master_key_file` at it and list the old file in `previous_master_key_files`, restart the
servers (they now wrap new data keys under the new key and still read the old ones), then run
`entrusted keys rotate`. It re-wraps every data key, never touching the encrypted fields, and
can be interrupted and run again at any time; once it reports nothing left under the old key,
remove that key from `previous_master_key_files` and destroy it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from entrusted.bootstrap.key_backup import (
    collect_keys,
    record,
    record_restore,
    restore_keys,
    roll_over,
    summary,
)
from entrusted.crypto.envelope import create_master_key_file
from entrusted.crypto.key_backup import seal, unseal
from entrusted.crypto.keyfiles import create_private_file
from entrusted.crypto.signing_keys import DEFAULT_OVERLAP
from entrusted.entrypoints.cli.context import (
    admin_actor,
    console,
    container,
    guarded,
    operator_actor,
    progress_bar,
    state,
)
from entrusted.errors import Conflict, InvalidInput, Unavailable
from entrusted.services.keys import rotate as rotate_keys
from entrusted.services.outcomes import Outcome

app = typer.Typer(
    help="Show and rotate the master key of customers' data keys; back up, restore and roll "
    "over keys.",
    no_args_is_help=True,
)


@app.command("status")
@guarded
def status() -> None:
    """How many customers' data keys each master key wraps, and which keys are loaded."""
    with container() as c:
        keyring = c.registry_keys().keyring
        counts = c.key_store.count_by_kek()
    console.print(f"current master key: {keyring.current.kek_id}")
    for kek_id in sorted(set(counts) | keyring.kek_ids):
        loaded = "loaded" if kek_id in keyring.kek_ids else "NOT LOADED"
        console.print(f"  {kek_id}: {counts.get(kek_id, 0)} data keys ({loaded})", highlight=False)


@app.command("new-master-key")
@guarded
def new_master_key(
    path: Annotated[Path, typer.Argument(help="Where to write the new key file (mode 0600).")],
) -> None:
    """Create a new master key file for a rotation (it is not used until configured)."""
    key = create_master_key_file(path)
    console.print(f"created master key {key.kek_id} at {path}", highlight=False)
    console.print(
        "next: set master_key_file to it, add the old file to "
        "previous_master_key_files, restart, then run `entrusted keys rotate`"
    )


@app.command("rotate")
@guarded
def rotate(
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per batch.")] = 500,
) -> None:
    """Re-wrap every data key under the current master key; safe to interrupt and rerun."""
    with container() as c:
        keyring = c.registry_keys().keyring
        with progress_bar("re-wrapping") as bar:
            task = bar.add_task("keys", total=None)
            report = rotate_keys(
                c.key_store,
                keyring,
                keyring.current,
                lambda done, total: bar.update(task, completed=done, total=total),
                batch_size=batch_size,
            )
        summary = (
            f"master key {report.new_kek_id}: {report.rewrapped} customer key(s) re-wrapped, "
            f"{sum(report.remaining.values())} left"
        )
        seeds = c.staff.rotate_seeds(summary, by=admin_actor(c))
    console.print(f"{seeds} staff TOTP seed(s) re-wrapped", highlight=False)
    console.print(
        f"master key {report.new_kek_id}: {report.rewrapped} re-wrapped, "
        f"{report.already_current} already current, {report.conflicts} changed meanwhile",
        highlight=False,
    )
    if not report.complete:
        left = ", ".join(f"{k}: {n}" for k, n in report.remaining.items())
        raise Unavailable(f"not finished ({left} left); run `entrusted keys rotate` again")
    console.print("done: no data key needs an old master key any more; remove and destroy them")


PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from the first line of this file instead of a prompt "
        "(never give it as an argument: arguments show in `ps` and shell history).",
    ),
]


MAX_SMALL_FILE = 1 << 20  # a key backup is a few KiB and a passphrase a line: 1 MiB at most


def _small_file(path: Path, what: str) -> bytes:
    """A regular file's bytes, at most `MAX_SMALL_FILE`: /dev/zero or a FIFO would otherwise
    fill the memory or block for ever (issue 17 trial finding)."""
    try:
        if not path.is_file():
            raise InvalidInput(what, f"{path} is not a regular file")
        with path.open("rb") as f:
            data = f.read(MAX_SMALL_FILE + 1)
    except OSError as exc:
        raise InvalidInput(what, f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_SMALL_FILE:
        raise InvalidInput(what, f"{path} is larger than {MAX_SMALL_FILE >> 20} MiB")
    return data


def _passphrase(path: Path | None, *, confirm: bool) -> str:
    if path is not None:
        try:
            lines = _small_file(path, "passphrase file").decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise InvalidInput("passphrase file", f"cannot read {path}: {exc}") from None
        if not lines or not lines[0]:
            raise InvalidInput("passphrase file", f"{path} holds no passphrase on its first line")
        return lines[0]
    value: str = typer.prompt(
        "Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return value


@app.command("backup")
@guarded
def backup(
    to: Annotated[Path, typer.Option("--to", help="The backup file to write (mode 0600).")],
    passphrase_file: PassphraseFile = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Seal the master key(s), the blind-index key and the signing key(s) under a passphrase
    (scrypt + AES-256-GCM); ledgered with the key ids, never the keys."""
    if (to.exists() or to.is_symlink()) and not force:
        raise Conflict(f"{to} already exists; use --force to replace it")
    with container() as c:
        keys = collect_keys(c.settings)
        sealed = seal(keys, _passphrase(passphrase_file, confirm=True), c.clock())
        to.unlink(missing_ok=True)
        create_private_file(to, sealed, "backup file")
        try:
            record(c, operator_actor(), Outcome.KEYS_BACKED_UP, f"key backup: {summary(keys)}")
        except BaseException:
            to.unlink(missing_ok=True)  # an unledgered copy of every key must not stay behind
            raise
    console.print(f"wrote {to}: {summary(keys)}", highlight=False, soft_wrap=True)
    console.print("keep it offline, apart from the data directory, with its passphrase elsewhere")


@app.command("restore")
@guarded
def restore(
    from_: Annotated[Path, typer.Option("--from", help="The key backup file to read.")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Restore into this data directory.")
    ] = None,
    passphrase_file: PassphraseFile = None,
    force: Annotated[bool, typer.Option("--force", help="Replace different keys.")] = False,
) -> None:
    """Write the keys of a backup back (0600); refuses to replace different keys without
    --force. Works without a database: the restore is then ledgered at the next start."""
    settings = state.settings(**({"data_dir": data_dir} if data_dir else {}))
    data = _small_file(from_, "backup file")
    sealed = unseal(data, _passphrase(passphrase_file, confirm=False))
    for note in restore_keys(settings, sealed, force=force):
        console.print(note, highlight=False, soft_wrap=True)
    reason = (
        f"keys restored from a backup made {sealed.created.isoformat()}: {summary(sealed.keys)}"
    )
    console.print(record_restore(settings, operator_actor(), reason), highlight=False)


@app.command("new-signing-key")
@guarded
def new_signing_key(
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="When the new key takes over (ISO 8601, e.g. 2026-12-07T00:00:00+00:00, or "
            "`now`); until then checkpoints carry both keys' signatures. Default: in 7 days.",
        ),
    ] = None,
) -> None:
    """Roll the ledger's signing key over: a new Ed25519 key signs checkpoints from --from;
    every old key stays listed (/v1/ledger/keys) so old checkpoints still verify."""
    with container() as c:
        now = c.clock()
        rollover = roll_over(c, operator_actor(), _when(from_, now))
    console.print(f"new signing key {rollover.new_vkey}", highlight=False, soft_wrap=True)
    console.print(
        f"signs from {rollover.start.isoformat()}; until then both keys sign, and its first "
        "checkpoint alone retires the old key (running `serve` and `worker` follow without a "
        "restart). Give the witnesses the key list (GET /v1/ledger/keys)",
        highlight=False,
        soft_wrap=True,
    )


def _when(value: str | None, now: datetime) -> datetime:
    if value is None:
        return now + DEFAULT_OVERLAP
    if value == "now":
        return now
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("from", f"{value!r} is not an ISO 8601 time or `now`") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
