"""`entrusted bench NAME`: run one benchmark script from `benchmarks/` and print its figures."""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from entrusted.entrypoints.cli.context import configure_logging, console, err_console


def _bench_dir() -> Path:
    for base in (Path(__file__).resolve().parents[4], Path.cwd()):
        if (base / "benchmarks").is_dir():
            return base / "benchmarks"
    raise typer.BadParameter("benchmarks/ not found; run from a checkout of Entrusted")


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, rows)
    else:
        rows.append((prefix, f"{value:,.3f}" if isinstance(value, float) else str(value)))


def bench(
    name: Annotated[
        str,
        typer.Argument(
            help="Benchmark: a file name in benchmarks/ without .py (e.g. ledger, policy)."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Run storage benchmarks on this database instead of a temp SQLite file.",
        ),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes, for a smoke run.")] = False,
    seconds: Annotated[
        int | None,
        typer.Option(
            "--seconds", min=1, help="How long a timed benchmark runs (load: default 60)."
        ),
    ] = None,
    size_mib: Annotated[
        int | None,
        typer.Option(
            "--size-mib", min=1, help="Size of the file a transfer benchmark moves (ftp: 100)."
        ),
    ] = None,
    recipients: Annotated[
        int | None,
        typer.Option(
            "--recipients", min=1, help="How many customers a mailing benchmark mails (20000)."
        ),
    ] = None,
    entries: Annotated[
        int | None,
        typer.Option(
            "--entries", min=1, help="How many ledger entries the evidence report reads (1000000)."
        ),
    ] = None,
) -> None:
    """Run a benchmark and print its measurements (same-run peers and limits included)."""
    directory = _bench_dir()
    path = directory / f"{name}.py"
    if not path.is_file():
        available = ", ".join(
            sorted(p.stem for p in directory.glob("*.py") if not p.stem.startswith("_"))
        )
        err_console.print(f"[red]error:[/red] no benchmark {name!r} (available: {available})")
        raise typer.Exit(2)
    spec = importlib.util.spec_from_file_location(f"entrusted_bench_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Services log what they do; a benchmark's stdout is its figures (one JSON object with
    # --json), so only warnings are logged, on stderr.
    configure_logging("WARNING")
    offered = {
        "database_url": database_url,
        "quick": quick,
        "seconds": seconds,
        "size_mib": size_mib,
        "recipients": recipients,
        "entries": entries,
    }
    accepted = inspect.signature(module.run).parameters
    result = module.run(**{k: v for k, v in offered.items() if k in accepted and v is not None})
    if as_json:
        typer.echo(json.dumps(result))
        return
    rows: list[tuple[str, str]] = []
    _flatten("", result, rows)
    table = Table("measure", "value", title=f"bench {name}")
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
