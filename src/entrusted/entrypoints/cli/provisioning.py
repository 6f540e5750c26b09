"""`entrusted provisioning import FILE`: the provisioning system's data from a CSV or JSON file
(issue 17), all or nothing, with a dry run that shows what would change and writes nothing.

The import acts as the provisioning system (the rules' `provisioning` service), the ledger's
decisions noting the operator who ran it (`import by cli:user@host`). The file format is in
docs/provisioning.md (`services/provisioning_forms.py` reads it).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from entrusted.domain.policy import Action, Actor, ActorKind, Service
from entrusted.domain.provisioning import Change, SyncReport
from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    operator,
    progress_bar,
)
from entrusted.errors import InvalidInput
from entrusted.services.provisioning_forms import check_columns, items_from_rows

app = typer.Typer(
    help="Sync customers, contracts and hosted services from the provisioning system's file.",
    no_args_is_help=True,
)
Row = dict[str, str | None]


def read_csv(path: Path) -> tuple[list[Row], int]:
    """The rows of a UTF-8 CSV file with a header (read as `customers import` reads one), and
    the number of its first data row."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [h.strip() for h in reader.fieldnames or []]
        return [{k: v for k, v in row.items() if k is not None} for row in reader], 2


def read_json(path: Path) -> tuple[list[Row], int]:
    """A JSON list of objects with the CSV's columns as keys."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput("file", f"{path} must hold a JSON list of objects")
    return [{str(k): None if v is None else str(v) for k, v in r.items()} for r in data], 1


MAX_FILE_BYTES = 1 << 30  # 1 GiB: millions of rows; /dev/zero or a runaway export is refused


def read_file(path: Path) -> tuple[list[Row], int]:
    reader = read_json if path.suffix.lower() == ".json" else read_csv
    if not path.exists():
        raise InvalidInput("file", f"{path} does not exist")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise InvalidInput("file", f"{path} is not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidInput("file", f"{path} is larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        rows, first = reader(path)
    except (UnicodeDecodeError, csv.Error, json.JSONDecodeError) as exc:
        raise InvalidInput("file", f"{path} is not a UTF-8 CSV or JSON file ({exc})") from None
    if not rows:
        raise InvalidInput("file", f"{path} has no rows")
    check_columns({name for row in rows for name in row})
    return rows, first


def print_report(report: SyncReport) -> None:
    table = Table("entity", "external id", "id", "change")
    for row in report.rows:
        if row.change is not Change.UNCHANGED:
            table.add_row(row.entity.value, row.external_id, row.id, row.change.value)
    if table.row_count:
        console.print(table)
    counts = ", ".join(f"{n} {change.value}" for change, n in report.counts().items())
    prefix = "dry run, nothing written: would be " if report.dry_run else ""
    console.print(f"{prefix}{counts}")


@app.command("import")
@guarded
def import_(
    file: Annotated[Path, typer.Argument(help="A .csv (with a header) or .json file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
) -> None:
    """Apply every row of the file, or none: a bad row stops the import before anything is
    written, naming the row and the column. Repeating an import changes nothing."""
    rows, first = read_file(file)
    with (
        container() as c,
        progress_bar() as bar,
    ):
        provisioner = Actor(ActorKind.SERVICE, Service.PROVISIONING.value)
        try:
            items = items_from_rows(c.provisioning.contacts, rows, first)
        except InvalidInput as exc:  # a bad row: ledgered like any refusal (a dry run: not)
            if dry_run:
                raise
            c.provisioning.refuse_input(provisioner, Action.UPDATE, exc)
        tasks = {
            stage: bar.add_task(stage, total=len(items))
            for stage in ("planned", "decided", "written")
        }
        report = c.provisioning.sync(
            provisioner,
            items,
            dry_run=dry_run,
            note=f"import by cli:{operator()}"[:64],
            progress=lambda stage, done, _total: bar.update(tasks[stage], completed=done),
            first_row=first,
        )
    print_report(report)
