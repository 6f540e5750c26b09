"""`entrusted backups ...`: encrypted snapshots of everything hosted (P15) and their
destruction after one week (P16). `run` and `purge` are the worker's jobs, run once as the
operator at this console; `list`, `inspect` and `restore` are for system administrators
(`--as USERNAME`, proven by their credential), and the rules refuse support."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from entrusted.domain.ids import IdKind
from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    operator_actor,
    progress_bar,
    staff_actor,
)
from entrusted.entrypoints.cli.ids import id_of
from entrusted.errors import Unavailable

app = typer.Typer(
    help="Encrypted backups: take, list, restore (sysadmins) and destroy after 7 days.",
    no_args_is_help=True,
)

AsOption = Annotated[str, typer.Option("--as", help="The sysadmin (username) this is done as.")]
BackupArg = Annotated[
    str, typer.Argument(help="The backup's id (bkp_...).", callback=id_of(IdKind.BACKUP))
]
INCIDENT = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _incident(value: str | None) -> str | None:
    """The incident is ledgered as the restore's reference: the API's shape, checked here so
    the error names the option (not the ledger's field)."""
    if value is not None and not INCIDENT.fullmatch(value):
        raise typer.BadParameter("is 1-64 letters, digits or . _ : - (like INC-7)")
    return value


@app.command("run")
@guarded
def run() -> None:
    """Back up every hosted service and customer record now (the worker's backups.run job)."""
    with (
        container() as c,
        progress_bar("sealing archives") as bar,
    ):
        task = bar.add_task("archives", total=None)
        report = c.backups.runner.run(
            operator_actor(), lambda done, total: bar.update(task, completed=done, total=total)
        )
    console.print(str(report), highlight=False)
    if report.failed:
        raise Unavailable(f"{len(report.failed)} archive(s) failed: {', '.join(report.failed)}")


@app.command("purge")
@guarded
def purge() -> None:
    """Destroy each day's key (and its archives) once its 7 days are over (backups.purge)."""
    with container() as c:
        console.print(str(c.backups.purge.purge(operator_actor())), highlight=False)


@app.command("status")
@guarded
def status() -> None:
    """The oldest live backup, the live day keys and any destruction overdue."""
    with container() as c:
        s = c.backups.purge.status()
    oldest = s.oldest_live.isoformat() if s.oldest_live else "none"
    console.print(f"live archives: {s.live_archives}, oldest taken {oldest}", highlight=False)
    for key in s.live_days:
        console.print(
            f"  day {key.day.isoformat()}: key {key.key_id}, destroyed by "
            f"{key.destroy_after.isoformat()}",
            highlight=False,
        )
    if s.overdue:
        days = ", ".join(k.day.isoformat() for k in s.overdue)
        raise Unavailable(f"destruction OVERDUE for {days}: run `entrusted backups purge`")


@app.command("list")
@guarded
def list_(
    username: AsOption,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            help="Only the backups of this customer id (cus_...).",
            callback=id_of(IdKind.CUSTOMER),
        ),
    ] = None,
) -> None:
    """List the backups (sysadmins only): id, what, when taken, when destroyed."""
    with container() as c:
        archives = c.backups.access.archives(staff_actor(c, username), customer)
    for a in archives:
        console.print(
            f"{a.id}  {a.customer_id}  {a.source.value:9}  taken {a.created_at.isoformat()}  "
            f"{a.status.value}  destroyed by {a.destroy_after.isoformat()}",
            highlight=False,
        )


@app.command("inspect")
@guarded
def inspect(
    archive_id: BackupArg,
    username: AsOption,
) -> None:
    """One backup's facts and its day key's id and commitment (never its content)."""
    with container() as c:
        found = c.backups.access.inspect(staff_actor(c, username), archive_id)
    a = found.archive
    lines = [
        f"backup {a.id} of customer {a.customer_id}: {a.source.value} "
        f"{a.service_id or ''}".rstrip(),
        f"status {a.status.value}; taken {a.created_at.isoformat()}; destroyed by "
        f"{a.destroy_after.isoformat()}",
        f"{a.size} sealed bytes in {a.chunks} chunks; sha256 {a.sha256 or '-'}",
    ]
    if found.key is not None:
        lines.append(f"day key {found.key.key_id}, commitment {found.key.commitment}")
    for line in lines:
        console.print(line, highlight=False)


@app.command("restore")
@guarded
def restore(
    archive_id: BackupArg,
    username: AsOption,
    target: Annotated[
        str | None, typer.Argument(help="A new directory under the restore root.")
    ] = None,
    case: Annotated[
        str | None,
        typer.Option(
            "--case",
            help="The support case (case_...) this restore serves; --case or --incident is "
            "required.",
            callback=id_of(IdKind.CASE),
        ),
    ] = None,
    incident: Annotated[
        str | None,
        typer.Option(
            "--incident",
            help="The incident (like INC-7) this restore serves; --case or --incident is required.",
            callback=_incident,
        ),
    ] = None,
    into_live: Annotated[
        bool,
        typer.Option(
            "--into-live",
            help="Replace the live service's directory (not the record; only where it can be "
            "swapped atomically); the tree replaced is backed up right after the swap.",
        ),
    ] = False,
) -> None:
    """Restore a backup into a new directory, or back into the live service (sysadmins
    only). One of --case or --incident is required."""
    with container() as c:
        done = c.backups.access.restore(
            staff_actor(c, username),
            archive_id,
            target,
            case_id=case,
            incident=incident,
            into_live=into_live,
        )
    kept = f"; the tree replaced is backup {done.kept}" if done.kept else ""
    console.print(
        f"restored {done.files} files of {done.archive_id} into {done.target} "
        f"({done.chunks} chunks authenticated){kept}",
        highlight=False,
    )
    if done.skipped_links:
        console.print(
            f"{len(done.skipped_links)} links to an absolute path or out of the tree were "
            "archived as made but not created:",
            highlight=False,
        )
        for name in done.skipped_links:
            console.print(f"  {name}", highlight=False, markup=False)
