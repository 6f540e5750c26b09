"""`entrusted init | staff ... | --help | --version` through Typer, on SQLite and PostgreSQL:
refusals are one line with their exit code, and nothing is written when anything is refused."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner, Result

from entrusted import __version__
from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.entrypoints.cli.main import app
from entrusted.errors import AuthenticationFailed
from tests.conftest import count_rows

pytestmark = pytest.mark.promise("P8", "P12")

WIDE = {"COLUMNS": "200", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb"}
# Messages go to files under the data dir: the explicit choice `serve` and `worker` need.
DIRECTORY_TRANSPORTS = {
    "ENTRUSTED_MAIL_TRANSPORT": "directory",
    "ENTRUSTED_SMS_TRANSPORT": "directory",
}
PASSWORD = "correct horse battery"


@dataclass
class Cli:
    """`entrusted --data-dir ... --database-url ...` against one fresh installation."""

    runner: CliRunner
    data_dir: Path
    database_url: str

    tokens: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, stdin: str | None = None, columns: int = 200) -> Result:
        argv = ["--data-dir", str(self.data_dir), "--database-url", self.database_url, *args]
        env = {**WIDE, **DIRECTORY_TRANSPORTS, "COLUMNS": str(columns)}
        if "--as" in args:  # `--as NAME` needs NAME's credential: a token of theirs
            env["ENTRUSTED_TOKEN"] = self.token_of(args[args.index("--as") + 1])
        return self.runner.invoke(app, argv, input=stdin, env=env)

    def token_of(self, username: str) -> str:
        """A token of the staff member `username` (issued once, by the operator), or an
        empty one for a name that is no staff member (`policy explain --as support`)."""
        if username not in self.tokens:
            with self.container() as c:
                known = any(m.username == username for m in c.staff.list_members())
                secret = c.staff.issue_token(username, "cli tests").secret if known else ""
            self.tokens[username] = secret
        return self.tokens[username]

    def add_staff(self, username: str, name: str, *roles: str) -> Result:
        """`staff add` with the password on standard input, as a script would."""
        role_args = [arg for role in roles for arg in ("--role", role)]
        return self(
            "staff",
            "add",
            username,
            "--name",
            name,
            *role_args,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )

    @property
    def key_file(self) -> Path:
        return self.data_dir / "ledger.key"

    @contextmanager
    def container(self) -> Iterator[Container]:
        # The tests look in with a password alone; the second factor has its own tests.
        settings = Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            staff_totp_required=False,
            mail_transport="directory",
            sms_transport="directory",
        )
        c = build(settings)
        try:
            yield c
        finally:
            c.close()

    def rows(self, table: str) -> int:
        with self.container() as c:
            return count_rows(c.engine, table)


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    return Cli(CliRunner(), tmp_path / "data", database_url)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result, code: int) -> str:
    """A user error: the given exit code and exactly one line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_init_creates_database_and_private_key(cli: Cli) -> None:
    out = ok(cli("init"))
    assert "database at revision" in out
    assert cli.key_file.exists()
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600
    with cli.container() as c:
        tables = set(sa.inspect(c.engine).get_table_names())
    assert {"staff", "api_token", "job_state", "alembic_version"} <= tables


def test_second_init_refuses_and_changes_nothing(cli: Cli) -> None:
    ok(cli("init"))
    ok(cli.add_staff("ana", "Ana Example", "support"))
    key = cli.key_file.read_bytes()
    line = refused(cli("init"), 4)
    assert "already exists" in line
    assert "--force" in line
    assert cli.key_file.read_bytes() == key
    assert cli.rows("staff") == 1


def test_refusal_stays_on_one_line_in_a_narrow_terminal(cli: Cli) -> None:
    ok(cli("init"))
    line = refused(cli("init", columns=40), 4)
    assert len(line) > 40
    assert line.endswith("use --force to wipe it")


def test_init_force_wipes_and_recreates(cli: Cli) -> None:
    ok(cli("init"))
    ok(cli.add_staff("ana", "Ana Example", "support"))
    key = cli.key_file.read_bytes()
    ok(cli("init", "--force"))
    assert cli.rows("staff") == 0
    assert cli.key_file.read_bytes() != key
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600
    ok(cli.add_staff("ana", "Ana Again", "sysadmin"))


def test_unsupported_database_url_names_the_field(tmp_path: Path) -> None:
    argv = ["--data-dir", str(tmp_path / "data"), "--database-url", "mysql://u@h/db", "init"]
    assert refused(CliRunner().invoke(app, argv, env=WIDE), 2).startswith("error: database_url: ")
    assert not (tmp_path / "data" / "ledger.key").exists()


def test_staff_add_then_list(cli: Cli) -> None:
    ok(cli("init"))
    out = ok(cli.add_staff("ana", "Ana Example", "support", "legal"))
    assert re.search(r"added ana \(stf_\w+\) with roles legal, support", out)
    listed = ok(cli("staff", "list"))
    row = next(line for line in listed.splitlines() if " ana " in line)
    assert "Ana Example" in row
    assert "legal, support" in row
    assert "active" in row
    with cli.container() as c:
        assert c.staff.login("ana", PASSWORD, None, "127.0.0.1").secret.startswith("ent_")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--role", "wizard"], "roles"),
        (["--role", "[/x] markup is text"], "roles"),
        (["--role", "support", "--name", ""], "display_name"),
    ],
    ids=["unknown-role", "markup-in-role", "empty-name"],
)
def test_staff_add_refuses_bad_input_and_writes_nothing(
    cli: Cli, args: list[str], field: str
) -> None:
    ok(cli("init"))
    name = [] if "--name" in args else ["--name", "Bob Example"]
    result = cli("staff", "add", "bob", *name, *args, "--password-stdin", stdin=PASSWORD + "\n")
    assert refused(result, 2).startswith(f"error: {field}: ")
    assert cli.rows("staff") == 0
    assert cli.rows("staff_role") == 0


def test_staff_add_duplicate_is_a_conflict(cli: Cli) -> None:
    ok(cli("init"))
    ok(cli.add_staff("ana", "Ana", "support"))
    assert "already exists" in refused(cli.add_staff("ana", "Another Ana", "legal"), 4)
    assert cli.rows("staff") == 1


def test_staff_tokens_revoke_and_disable(cli: Cli) -> None:
    ok(cli("init"))
    ok(cli.add_staff("ana", "Ana [not markup]", "support"))

    first = ok(cli("staff", "token", "ana", "--label", "laptop", "--ttl-days", "7"))
    first_id = re.search(r"token (tok_\w+) \(expires", first)
    first_secret = re.search(r"^(ent_\S+)$", first, re.MULTILINE)
    assert first_id
    assert first_secret
    second = ok(cli("staff", "token", "ana", "--label", "ci"))
    second_secret = re.search(r"^(ent_\S+)$", second, re.MULTILINE)
    assert second_secret

    listed = ok(cli("staff", "tokens", "ana"))
    assert first_id[1] in listed
    narrow = cli("staff", "tokens", "ana", columns=60)
    assert first_id[1] in ok(narrow)  # never truncated, however narrow: `revoke` needs it whole
    assert "laptop" in listed
    assert first_secret[1] not in listed  # shown once, never listed
    assert "Ana [not markup]" in ok(cli("staff", "list"))

    assert f"revoked {first_id[1]}" in ok(cli("staff", "revoke", first_id[1]))
    with cli.container() as c:
        with pytest.raises(AuthenticationFailed):
            c.staff.authenticate(first_secret[1])
        assert c.staff.authenticate(second_secret[1]).id
    assert "tok_nope" in refused(cli("staff", "revoke", "tok_nope"), 3)

    assert "all their tokens are revoked" in ok(cli("staff", "disable", "ana"))
    with cli.container() as c:
        with pytest.raises(AuthenticationFailed):
            c.staff.authenticate(second_secret[1])
        assert all(t.revoked_at is not None for t in c.staff.tokens("ana"))
    row = next(line for line in ok(cli("staff", "list")).splitlines() if " ana " in line)
    assert "disabled" in row
    assert "already disabled" in refused(cli("staff", "disable", "ana"), 4)
    assert "nobody" in refused(cli("staff", "disable", "nobody"), 3)


def test_token_with_bad_ttl_names_the_field_and_writes_nothing(cli: Cli) -> None:
    ok(cli("init"))
    ok(cli.add_staff("ana", "Ana", "support"))
    assert "ttl_days" in refused(cli("staff", "token", "ana", "--ttl-days", "0"), 2)
    assert cli.rows("api_token") == 0


# --- help and version: no database needed ------------------------------------------------------


def command_paths() -> list[tuple[list[str], Any]]:
    """Every command and sub-command of the real CLI, walked from the click tree (typer's
    vendored click exports no command type, hence `Any`)."""
    found: list[tuple[list[str], Any]] = []

    def walk(path: list[str], command: Any) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], typer.main.get_command(app))
    return found


@pytest.mark.parametrize(
    ("path", "command"),
    command_paths(),
    ids=[" ".join(p) or "root" for p, _ in command_paths()],
)
def test_every_command_explains_itself(path: list[str], command: Any) -> None:
    title = " ".join(["entrusted", *path])
    description: str = command.help or ""
    assert description.strip(), f"`{title}` has no description"
    result = CliRunner().invoke(app, [*path, "--help"], env=WIDE, prog_name="entrusted")
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.replace("`", "").split())
    assert f"Usage: {title} " in shown
    opening = " ".join(description.replace("`", "").split()[:4])
    assert opening in shown, f"description of `{title}` missing from:\n{result.output}"


def test_the_walk_reaches_every_known_command() -> None:
    paths = {" ".join(p) for p, _ in command_paths()}
    expected = {"init", "migrate", "serve", "worker", "demo", "bench", "policy", "staff"}
    expected |= {f"staff {sub}" for sub in ("add", "list", "disable", "token", "tokens", "revoke")}
    assert expected <= paths


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"entrusted {__version__}"


def test_no_arguments_shows_help() -> None:
    result = CliRunner().invoke(app, [], env=WIDE)
    assert "Usage:" in result.output
    assert "init" in result.output


@pytest.mark.parametrize("columns", [80, 50])
def test_staff_list_never_cuts_a_username(cli: Cli, columns: int) -> None:
    """Trial finding: at 80 columns `staff list` showed `christine.…`, the value `--as` needs."""
    ok(cli("init"))
    long_name = "christine.vonarburg-muster"
    ok(cli.add_staff(long_name, "Christine Vonarburg-Muster", "support", "communications"))
    ok(cli.add_staff("ana", "Ana", "support"))
    listed = ok(cli("staff", "list", columns=columns))
    assert long_name in listed, listed
    assert "…" not in listed, listed
    with cli.container() as c:
        ids = [m.id for m in c.staff.list_members()]
    assert all(i in listed for i in ids)
