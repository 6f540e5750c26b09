"""Docs are generated or tested, never hand-synced: every setting, error class, CLI command and
route is documented, with the same numbers the code uses."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from entrusted import errors
from entrusted.bootstrap import build
from entrusted.config import Settings
from entrusted.entrypoints.api.app import create_app
from entrusted.entrypoints.api.problems import STATUS
from entrusted.entrypoints.cli.context import EXIT_CODES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def table_rows(page: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell without backticks."""
    rows = {}
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


# --- settings ------------------------------------------------------------------------------------


def test_every_setting_is_documented_with_its_variable_and_default() -> None:
    rows = table_rows("configuration.md")
    for name, field in Settings.model_fields.items():
        assert name in rows, f"setting {name} is missing from docs/configuration.md"
        _, env, default, meaning = rows[name]
        assert env == f"`ENTRUSTED_{name.upper()}`", f"{name}: wrong variable {env}"
        if field.default is not None:
            assert f"`{field.default}`" in default, f"{name}: default is {field.default}"
        assert meaning, f"{name}: no meaning given"


def test_configuration_page_lists_no_removed_setting() -> None:
    assert set(table_rows("configuration.md")) <= set(Settings.model_fields)


# --- errors --------------------------------------------------------------------------------------


def error_classes() -> list[type[errors.EntrustedError]]:
    found: list[type[errors.EntrustedError]] = []
    pending = [errors.EntrustedError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            pending.append(sub)
    return sorted(found, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_has_a_status_an_exit_code_and_a_documented_row(
    cls: type[errors.EntrustedError],
) -> None:
    name = cls.__name__
    assert cls in STATUS, f"{name} is missing from STATUS in entrypoints/api/problems.py"
    assert cls in EXIT_CODES, f"{name} is missing from EXIT_CODES in entrypoints/cli/context.py"
    rows = table_rows("errors.md")
    assert name in rows, f"{name} is missing from docs/errors.md"
    _, status, problem_type, exit_code, meaning = rows[name]
    assert status == str(STATUS[cls][0]), f"{name}: docs say HTTP {status}"
    assert problem_type.endswith(f"/{STATUS[cls][1]}`"), f"{name}: docs say {problem_type}"
    assert exit_code == str(EXIT_CODES[cls]), f"{name}: docs say exit code {exit_code}"
    assert meaning


def test_errors_page_lists_only_real_errors() -> None:
    real = {cls.__name__ for cls in error_classes()} | {"EntrustedError"}
    assert set(table_rows("errors.md")) == real


def test_exit_codes_are_distinct_and_leave_1_for_unexpected_errors() -> None:
    codes = list(EXIT_CODES.values())
    assert len(set(codes)) == len(codes)
    assert 1 not in codes


# --- CLI reference -------------------------------------------------------------------------------


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts/gen_cli_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_generated_from_the_current_help() -> None:
    generated: str = load_generator().render()
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert generated == committed, (
        "docs/cli.md does not match the CLI's --help: run python scripts/gen_cli_docs.py"
    )


def test_cli_reference_has_a_section_per_command() -> None:
    import typer

    from entrusted.entrypoints.cli.main import app

    gen = load_generator()
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path in gen.walk(typer.main.get_command(app)):
        title = " ".join(("entrusted", *path))
        assert f"## `{title}`" in text, f"{title}: run python scripts/gen_cli_docs.py"


# --- HTTP API ------------------------------------------------------------------------------------


@pytest.fixture
def openapi(tmp_path: Path) -> Iterator[dict[str, dict[str, object]]]:
    c = build(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'api.db'}"))
    try:
        paths: dict[str, dict[str, object]] = create_app(container=c).openapi()["paths"]
        yield paths
    finally:
        c.close()


def test_every_route_is_documented(openapi: dict[str, dict[str, object]]) -> None:
    page = (DOCS / "api.md").read_text(encoding="utf-8")
    assert "/healthz" in openapi
    missing = [
        f"{method.upper()} {path}"
        for path, operations in openapi.items()
        for method in operations
        if f"`{method.upper()} {path}`" not in page
    ]
    assert missing == [], f"routes missing from docs/api.md: {missing}"
