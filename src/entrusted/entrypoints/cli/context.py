"""What every CLI command shares: settings from `--config`, the container, the error table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from entrusted import errors

if TYPE_CHECKING:
    # Only for annotations: importing the composition root (SQLAlchemy, pydantic, every
    # adapter) at module level made `entrusted --version` and `--help` pay for all of it.
    from rich.progress import Progress

    from entrusted.bootstrap import Container
    from entrusted.config import Settings
    from entrusted.domain.policy import Actor

console = Console()
err_console = Console(stderr=True)
# Off a terminal (a pipe, a log file, CI) there is no width to wrap to: rich would assume 80
# columns and break lines mid-phrase, so `grep` misses what it looks for. Lines stay whole.
for _stream in (console, err_console):
    _stream.soft_wrap = not _stream.is_terminal

# One table: exception class -> exit code. Order matters only for subclasses (none today).
EXIT_CODES: dict[type[errors.EntrustedError], int] = {
    errors.InvalidInput: 2,
    errors.NotFound: 3,
    errors.Conflict: 4,
    errors.AuthenticationFailed: 5,
    errors.RateLimited: 6,
    errors.Refused: 7,
    errors.Unavailable: 8,
    errors.TamperDetected: 9,
}


@dataclass
class CliState:
    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self, **more: Any) -> Settings:
        from entrusted.config import load_settings

        return load_settings(self.config_file, **{**self.overrides, **more})


state = CliState()


@contextmanager
def container(**overrides: Any) -> Iterator[Container]:
    from entrusted.bootstrap import build

    settings = state.settings(**overrides)
    if settings.database_url is None and not (settings.data_dir / "entrusted.db").exists():
        # SQLite would create an empty file and every command would then fail on a missing
        # table ("database unavailable"): say what is actually wrong.
        raise errors.InvalidInput(
            "data_dir",
            f"no Entrusted installation in {settings.data_dir}: run `entrusted init`, or point "
            "ENTRUSTED_DATA_DIR or --data-dir at an existing one",
        )
    c = build(settings)
    try:
        yield c
    finally:
        c.close()


def fail(exc: errors.EntrustedError) -> typer.Exit:
    code = next((v for cls, v in EXIT_CODES.items() if isinstance(exc, cls)), 1)
    # Messages quote user input (a role, a name): print them as text, never as rich markup,
    # and on one line whatever the terminal width.
    err_console.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


T = TypeVar("T")


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn Entrusted errors into one red line and an exit code; no tracebacks for users."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except errors.EntrustedError as exc:
            raise fail(exc) from None

    return wrapper


def configure_logging(level: str) -> None:
    """Structured logs for long-running processes: one JSON object per event on stderr."""
    import logging

    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        # Whatever stderr is when a line is written (not when logging was configured): a
        # test runner swaps and closes streams between commands.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def operator() -> str:
    """Who runs this command on this host: named in the ledger when rules are deployed."""
    import getpass
    import socket

    return f"{getpass.getuser()}@{socket.gethostname()}"[:64]


def read_secret(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


def operator_actor() -> Actor:
    """The operator at this console, as the registry sees them: a service actor `cli:user@host`
    that no API token can carry (see `domain.registry.is_registrar`)."""
    from entrusted.domain.policy import Actor, ActorKind
    from entrusted.domain.registry import CLI_OPERATOR_PREFIX

    return Actor(ActorKind.SERVICE, (CLI_OPERATOR_PREFIX + operator())[:64])


TOKEN_ENV = "ENTRUSTED_TOKEN"  # noqa: S105 - the name of the variable, not a secret


def staff_actor(c: Container, username: str) -> Actor:
    """The staff member a command acts as (`--as USERNAME`), proven by their credential: the
    token in `ENTRUSTED_TOKEN`, or, at a terminal, their password and TOTP code. A name alone
    proves nothing, and the ledger must name who really acted. A refusal is ledgered, filed
    under the operator at this console (P3: attempts at staff identities are evidence too)."""
    try:
        return _proven_staff(c, username)
    except (errors.AuthenticationFailed, errors.NotFound, errors.RateLimited) as exc:
        _ledger_refusal(c, exc)
        raise


def _ledger_refusal(c: Container, exc: errors.EntrustedError) -> None:
    from entrusted.domain.policy import Action, Resource, ResourceKind
    from entrusted.services.outcomes import Outcome, OutcomeRecorder

    kind = type(exc).__name__  # never the message: it may quote a typed name or token
    OutcomeRecorder(c.gate).record(
        operator_actor(),
        Action.READ,
        Resource(ResourceKind.STAFF_ACCOUNT, "cli-credential"),
        Outcome.CLI_CREDENTIAL_REFUSED,
        f"a CLI command acting as a staff member was refused ({kind})",
        allowed=False,
    )


def _proven_staff(c: Container, username: str) -> Actor:
    import os

    from entrusted.domain.policy import ActorKind

    secret = os.environ.get(TOKEN_ENV)
    if secret:
        actor = c.authenticate(secret)
    elif sys.stdin.isatty():
        password: str = typer.prompt(f"Password of {username}", hide_input=True)
        code: str = typer.prompt("TOTP code (empty if none)", default="", show_default=False)
        session = c.staff.login(username, password, code or None, f"cli:{operator()}"[:64])
        actor = c.staff.authenticate(session.secret)
    else:
        raise errors.AuthenticationFailed(
            f"acting as {username!r} needs their credential: set {TOKEN_ENV} to one of "
            "their tokens, or run at a terminal to type their password and code"
        )
    member = c.staff.get(username)
    if actor.kind is not ActorKind.STAFF or actor.id != member.id:
        given = _TOKEN_KINDS.get(actor.kind, "the personal token of another staff member")
        raise errors.AuthenticationFailed(
            f"the token in {TOKEN_ENV} is not that of {username!r}: it is {given}; --as needs "
            f"the personal token of that staff member (entrusted staff token {username})"
        )
    return actor


# What a token that cannot prove `--as` was, in the refusal (the holder knows it already).
_TOKEN_KINDS = {"customer": "a customer token", "service": "a service token"}


def admin_actor(c: Container) -> Actor | None:
    """Who runs a staff-administration command: the staff member whose token is in
    `ENTRUSTED_TOKEN` (a sysadmin), otherwise None, which the service records as the
    machine's operator (`cli:user@host`)."""
    import os

    secret = os.environ.get(TOKEN_ENV)
    if not secret:
        return None
    try:
        return c.authenticate(secret)
    except (errors.AuthenticationFailed, errors.RateLimited) as exc:
        _ledger_refusal(c, exc)
        raise


def progress_bar(
    label: str = "{task.description:<10}", *, on_terminal_only: bool = True
) -> Progress:
    """The bar every long command shows on stderr (counts and time left), gone when done; by
    default not drawn at all when stderr is no terminal, so logs and pipes get no frames."""
    # imported here: `entrusted --version` and `--help` load this module and stay fast
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    return Bar(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=on_terminal_only and not err_console.is_terminal,
    )
