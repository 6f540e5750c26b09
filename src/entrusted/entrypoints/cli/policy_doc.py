"""`entrusted policy-doc ...`: the public policy document (P17). Anyone at the console may read
it (it is public); `publish` is for legal (`--as USERNAME`, proven by their credential), is
ledgered, and announces the new version to every customer as a terms amendment."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from entrusted.entrypoints.cli.context import console, container, guarded, staff_actor
from entrusted.errors import InvalidInput

app = typer.Typer(
    help="The public policy document: show its versions, publish a new one (legal).",
    no_args_is_help=True,
)


@app.command("show")
@guarded
def show(
    number: Annotated[
        int | None,
        typer.Option("--version", min=1, help="This version instead of the one in force."),
    ] = None,
) -> None:
    """Print the version in force (or --version N), its facts and the rules' SHA-256."""
    with container() as c:
        if number is None:
            page = c.policy_documents.current()
            version, rules = page.version, page.rules.sha256
        else:
            version, rules = c.policy_documents.version(number), None
    console.print(version.text, highlight=False, markup=False)
    console.print(
        f"version {version.number}, in force from {version.effective.isoformat()}, by "
        f"{version.author}: {version.summary}; sha256 {version.sha256}",
        highlight=False,
        markup=False,
    )
    if rules is not None:
        console.print(f"rules in force: sha256 {rules}", highlight=False)


@app.command("versions")
@guarded
def versions() -> None:
    """List every version: number, effective date, author, summary."""
    with container() as c:
        found = c.policy_documents.versions()
    for v in found:
        console.print(
            f"{v.number:>4}  from {v.effective.isoformat()}  {v.author:<20}  {v.summary}",
            highlight=False,
            markup=False,
        )


@app.command("publish")
@guarded
def publish(
    text_file: Annotated[Path, typer.Argument(help="The new text (UTF-8; `## Title [P1]`).")],
    username: Annotated[str, typer.Option("--as", help="The legal officer (username).")],
    effective: Annotated[
        str, typer.Option("--effective", help="YYYY-MM-DD, today (UTC) or later.")
    ],
    summary: Annotated[str, typer.Option("--summary", help="What changed, in one line.")],
) -> None:
    """Publish a new version (legal only): ledgered, then announced to every customer."""
    try:
        text = text_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("text_file", f"cannot read {text_file}: {exc}") from None
    try:
        day = date.fromisoformat(effective)
    except ValueError:
        raise InvalidInput("--effective", "a date as YYYY-MM-DD") from None
    with container() as c:
        done = c.policy_documents.publish(staff_actor(c, username), text, day, summary)
    console.print(
        f"published version {done.number} (sha256 {done.sha256}), in force from "
        f"{done.effective.isoformat()}",
        highlight=False,
    )
