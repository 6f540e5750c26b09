"""`entrusted policy check | explain | diff` through Typer, on the sub-app itself."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH
from entrusted.entrypoints.cli.policy import app

pytestmark = pytest.mark.promise("P8", "P12")

WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}

BROKEN = """\
rules:
  - id: sysadmin-restores
    effect: permit
    who: [sysadmin]
    actions: [list, restore]
    resources: [backup]
    implements: [P15]
    reason: sysadmins restore backups
  - id: support-restores-too
    effect: permit
    who: [support]
    actions: [restore]
    resources: [backup]
    implements: [P15]
    reason: a mistake under review
invariants:
  - id: support-never-restores
    implements: [P15]
    reason: backups are for sysadmins only
    deny:
      who: [support]
      resources: [backup]
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_check_on_the_shipped_rules_passes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "support-monitors-mailbox-metadata" in result.output
    assert "allow if active_grant" in result.output
    assert "holds technical-access-only-sysadmin-and-support (P8)" in result.output
    assert " 0 violations" in result.output


def test_check_names_the_rule_behind_a_violation(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", BROKEN)
    result = runner.invoke(app, ["check", "--rules", str(path)], env=WIDE)
    assert result.exit_code == 1, result.output
    assert "VIOLATED support-never-restores" in result.output
    assert "support restore backup with no condition is allowed by support-restores-too" in (
        result.output)
    assert f"{path}:9" in result.output


def test_check_show_denied_lists_denials(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", "--show-denied"], env=WIDE)
    assert result.exit_code == 0
    assert "deny" in result.output


def test_check_reports_a_bad_file_in_one_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", BROKEN.replace("who: [support]\n    actions",
                                                      "who: [suport]\n    actions"))
    result = runner.invoke(app, ["check", "--rules", str(path)], env=WIDE)
    assert result.exit_code == 2
    assert f"error: {path}:11: unknown role or actor kind 'suport'" in result.output
    assert "Traceback" not in result.output


def test_explain_names_the_deciding_rule(runner: CliRunner) -> None:
    args = ["explain", "--as", "support", "--action", "read", "--resource", "mailbox_content"]
    denied = runner.invoke(app, args, env=WIDE)
    assert denied.exit_code == 0, denied.output
    assert "DENY support read mailbox_content" in denied.output
    assert "decided by rule mailbox-closed-to-staff" in denied.output
    assert "staff-read-mail-under-grant" in denied.output
    assert "needs active_grant" in denied.output
    allowed = runner.invoke(app, [*args, "--with", "active_grant"], env=WIDE)
    assert "ALLOW support read mailbox_content (conditions holding: active_grant)" in (
        allowed.output)
    assert "decided by rule staff-read-mail-under-grant" in allowed.output


def test_explain_default_deny_and_obligations(runner: CliRunner) -> None:
    result = runner.invoke(app, ["explain", "--as", "other", "--action", "read",
                                 "--resource", "backup"], env=WIDE)
    assert "decided by default deny: no rule permits other to read backup" in result.output
    assert "no rule mentions other read backup" in result.output
    result = runner.invoke(app, ["explain", "--as", "legal", "--action", "disclose",
                                 "--resource", "personal_details", "--with", "court_order"],
                           env=WIDE)
    assert "obligations: scope_to_court_order" in result.output


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--as", "janitor", "--as: unknown role or actor kind 'janitor'"),
        ("--action", "peek", "--action: unknown Action 'peek'"),
        ("--resource", "mailbox", "--resource: unknown ResourceKind 'mailbox'"),
        ("--with", "consent", "--with: unknown Condition 'consent'"),
    ],
)
def test_explain_refuses_unknown_names(runner: CliRunner, option: str, value: str,
                                       words: str) -> None:
    given = {"--as": "support", "--action": "read", "--resource": "mailbox_content",
             option: value}
    result = runner.invoke(app, ["explain", *(x for kv in given.items() for x in kv)], env=WIDE)
    assert result.exit_code == 2
    assert words in result.output


def test_diff_lists_the_added_permission(runner: CliRunner, tmp_path: Path) -> None:
    old = write(tmp_path, "old.yaml", BROKEN.split("  - id: support-restores-too", maxsplit=1)[0])
    new = write(tmp_path, "new.yaml", BROKEN)
    result = runner.invoke(app, ["diff", str(old), str(new)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "added: support may restore backup (support-restores-too)" in result.output
    assert "1 added, 0 removed" in result.output
    back = runner.invoke(app, ["diff", str(new), str(old)], env=WIDE)
    assert "removed: support may restore backup (support-restores-too)" in back.output
    same = runner.invoke(app, ["diff", str(DEFAULT_RULES_PATH), str(DEFAULT_RULES_PATH)])
    assert "no permission changes" in same.output


def test_every_command_has_help(runner: CliRunner) -> None:
    top = runner.invoke(app, ["--help"], env=WIDE)
    assert top.exit_code == 0
    for command in ("check", "explain", "diff"):
        assert command in top.output
        result = runner.invoke(app, [command, "--help"], env=WIDE)
        assert result.exit_code == 0
        assert len(result.output.strip().splitlines()) > 3
