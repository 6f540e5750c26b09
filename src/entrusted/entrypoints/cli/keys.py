"""`entrusted keys ...`: master-key status and rotation (P2).

Rotation, step by step: create a new key file (`entrusted keys new-master-key PATH`), point
`master_key_file` at it and list the old file in `previous_master_key_files`, restart the
servers (they now wrap new data keys under the new key and still read the old ones), then run
`entrusted keys rotate`. It re-wraps every data key, never touching the encrypted fields, and
can be interrupted and run again at any time; once it reports nothing left under the old key,
remove that key from `previous_master_key_files` and destroy it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from entrusted.crypto.envelope import create_master_key_file
from entrusted.entrypoints.cli.context import (
    admin_actor,
    console,
    container,
    err_console,
    guarded,
)
from entrusted.errors import Unavailable
from entrusted.services.keys import rotate as rotate_keys

app = typer.Typer(
    help="Show and rotate the master key of customers' data keys.", no_args_is_help=True
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
        with Progress(
            TextColumn("re-wrapping"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,  # no bar frames in logs or pipes
        ) as bar:
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
