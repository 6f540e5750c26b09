"""`entrusted --version` and `--help` import no command module; each command still runs, and
the root listing's help lines are the commands' own."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.testing import CliRunner

from entrusted.entrypoints.cli.lazy import LAZY_COMMANDS, LazyCommand
from entrusted.entrypoints.cli.main import app

HEAVY = ("sqlalchemy", "fastapi", "faker", "pydantic", "argon2", "entrusted.bootstrap")


def loaded_after(argv: list[str]) -> set[str]:
    """The heavy modules in sys.modules after running `entrusted ARGV` in a fresh interpreter."""
    probe = (
        "import sys\n"
        f"sys.argv = ['entrusted', *{argv!r}]\n"
        "from entrusted.entrypoints.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stderr.split())


def test_version_and_help_load_nothing_heavy() -> None:
    assert loaded_after(["--version"]) == set()
    assert loaded_after(["--help"]) == set()


def test_a_command_loads_its_module_when_it_runs() -> None:
    assert "sqlalchemy" in loaded_after(["ledger", "--help"])


def test_listing_lines_are_the_commands_own_help() -> None:
    group = typer.main.get_command(app)
    for name in LAZY_COMMANDS:
        stand_in = group.commands[name]  # type: ignore[attr-defined]
        assert isinstance(stand_in, LazyCommand)
        own = stand_in.real.help.split("\n\n")[0].replace("\n", " ").strip()
        assert stand_in.help == own, f"{name}: update LAZY_COMMANDS in entrypoints/cli/lazy.py"


def test_lazy_commands_run_with_their_own_options() -> None:
    out = CliRunner().invoke(app, ["grants", "expire", "--help"])
    assert out.exit_code == 0, out.output
    assert "grants expire [OPTIONS]" in out.output
    bad = CliRunner().invoke(app, ["bench", "no-such-benchmark"])
    assert bad.exit_code == 2
