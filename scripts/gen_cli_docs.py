"""Write docs/cli.md from the `--help` of every `entrusted` command, so the reference cannot
drift from the code (tests/unit/test_docs.py regenerates it and compares).

    .venv/bin/python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    .venv/bin/python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is stale

The help is rendered at a fixed width without colour, whatever the terminal, and defaults that
are paths inside this checkout are shown relative to the package, so every machine produces
the same bytes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import typer.rich_utils
from typer.testing import CliRunner

import entrusted
from entrusted.entrypoints.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
WIDTH = 100
ENV = {"COLUMNS": str(WIDTH), "LINES": "50", "NO_COLOR": "1", "TERM": "dumb"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PACKAGE_PARENT = Path(entrusted.__file__).resolve().parent.parent

HEADER = """\
# Command-line reference

Generated from the `--help` of every command by `python scripts/gen_cli_docs.py`; do not edit
by hand. `tests/unit/test_docs.py` fails when this page and the code disagree.
"""


# typer vendors its own click (`typer._click`) and exports no type for commands: duck-type them.
Command = Any


def walk(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path, parents before children, sub-commands in name order."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def _portable_defaults(command: Command) -> None:
    """Show an absolute default inside the installed package (the shipped rules file) relative
    to the package, so the page does not depend on where the checkout lives."""
    for param in command.params:
        default = param.default
        if isinstance(default, Path) and default.is_absolute():
            try:
                shown = default.resolve().relative_to(PACKAGE_PARENT)
            except ValueError:
                continue
            if getattr(param, "show_default", False) is not False:
                param.show_default = str(shown)
    for sub in getattr(command, "commands", {}).values():
        _portable_defaults(sub)


@contextmanager
def _fixed_rich_help() -> Iterator[None]:
    """typer reads TERMINAL_WIDTH, FORCE_COLOR and friends once at import; pin them."""
    saved = (
        typer.rich_utils.MAX_WIDTH,
        typer.rich_utils.FORCE_TERMINAL,
        typer.rich_utils.COLOR_SYSTEM,
    )
    typer.rich_utils.MAX_WIDTH = WIDTH
    typer.rich_utils.FORCE_TERMINAL = False
    typer.rich_utils.COLOR_SYSTEM = None
    try:
        yield
    finally:
        (
            typer.rich_utils.MAX_WIDTH,
            typer.rich_utils.FORCE_TERMINAL,
            typer.rich_utils.COLOR_SYSTEM,
        ) = saved


def help_text(root: Command, path: tuple[str, ...]) -> str:
    runner = CliRunner()
    with _fixed_rich_help(), runner.isolation(env=ENV) as (stdout, _stderr, _output):
        try:
            root.main(args=[*path, "--help"], prog_name="entrusted")
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"`entrusted {' '.join(path)} --help` failed") from exc
        raw = stdout.getvalue().decode("utf-8")
    lines = [line.rstrip() for line in ANSI.sub("", raw).splitlines()]
    return "\n".join(lines).strip("\n")


def render() -> str:
    root = typer.main.get_command(app)
    _portable_defaults(root)
    sections = [HEADER]
    for path in walk(root):
        title = " ".join(("entrusted", *path))
        sections.append(f"## `{title}`\n\n```text\n{help_text(root, path)}\n```\n")
    return "\n".join(sections)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = CLI_DOC.read_text(encoding="utf-8") if CLI_DOC.exists() else ""
        if current != text:
            sys.stderr.write(f"{CLI_DOC} is stale: run python scripts/gen_cli_docs.py\n")
            return 1
        return 0
    CLI_DOC.parent.mkdir(parents=True, exist_ok=True)
    CLI_DOC.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {CLI_DOC.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
