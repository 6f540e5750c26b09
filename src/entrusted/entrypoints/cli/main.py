"""`entrusted`: the command line. Each command parses, calls one service, formats the result."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from entrusted import __version__
from entrusted.entrypoints.api.roles import Role
from entrusted.entrypoints.cli.context import (
    configure_logging,
    console,
    container,
    guarded,
    operator,
    state,
)
from entrusted.entrypoints.cli.lazy import LazyGroup

app = typer.Typer(
    help=(
        "Entrusted enforces and proves a hosting provider's privacy policy: every access to "
        "customer data passes one gate and is recorded in a tamper-evident ledger."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # The command modules (services, SQLAlchemy, Faker) load only for the command that runs,
    # so `entrusted --version` and `--help` stay fast; see entrypoints/cli/lazy.py.
    cls=LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"entrusted {__version__}")
        raise typer.Exit


@app.callback()
def root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="ENTRUSTED_CONFIG",
            help="TOML settings file (keys as in docs/configuration.md).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data directory (overrides ENTRUSTED_DATA_DIR)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="SQLAlchemy URL (overrides ENTRUSTED_DATABASE_URL)."),
    ] = None,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    state.config_file = config
    state.overrides = {"data_dir": data_dir, "database_url": database_url}
    # A command's own output is stdout; the services' structured log lines go to stderr and,
    # for one-shot commands, only warnings and errors (`serve` and `worker` use `log_level`).
    configure_logging("WARNING")


@app.command()
@guarded
def init(
    force: Annotated[
        bool, typer.Option("--force", help="Wipe an existing installation first.")
    ] = False,
) -> None:
    """Create the data directory, the database and the signing keys."""
    from entrusted.bootstrap import initialise

    for line in initialise(state.settings(), force=force):
        console.print(f"created {line}")


@app.command()
@guarded
def migrate() -> None:
    """Upgrade the database schema to the latest revision."""
    from entrusted.adapters.db import migrate as m

    with container() as c:
        m.upgrade(c.engine)
        console.print(f"database at revision {m.current_revision(c.engine)}")


@app.command()
@guarded
def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default from settings).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Listen port (default from settings).")
    ] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run periodic jobs in this process.")
    ] = False,
    role: Annotated[
        Role,
        typer.Option(
            help="all: everything (the hooks on hooks_listen if set); public: the API and portal "
            "without the mail/FTP login hooks; hooks: only those, on hooks_listen.",
        ),
    ] = Role.ALL,
) -> None:
    """Run the API (and, unless --no-worker, the periodic jobs) in one process."""
    from entrusted.bootstrap import start_ftp
    from entrusted.entrypoints.api.middleware import access_log_config
    from entrusted.entrypoints.cli.listen import serve_on, taking_port
    from entrusted.entrypoints.cli.serve_roles import listen

    with container() as c:
        configure_logging(c.settings.log_level)
        notes = c.require_transports()
        # A hooks address that may not be used, or a busy port, stops it before anything starts.
        listening = listen(c, role, host, port)
        stop = threading.Event()
        try:
            for note in [*notes, *c.start(deployed_by=operator(), sign_tail=True)]:
                console.print(note)
            # The in-process FTPS server goes with the one-machine role only; split
            # installations run `entrusted ftp serve` (docs/deploy.md).
            with taking_port(c.settings.ftp_bind_host, c.settings.ftp_bind_port):
                ftp = c.settings.ftp_enabled and role is Role.ALL
                stop_ftp = start_ftp(c) if ftp else None
        except BaseException:
            listening.close()
            raise
        for line in listening.lines:
            console.print(line)
        if c.settings.ftp_enabled and role is not Role.ALL:
            console.print(f"ftp_enabled: no FTPS server with --role {role}; run `ftp serve`")
        if stop_ftp is not None:
            s = c.settings
            console.print(f"FTPS on {s.ftp_bind_host}:{s.ftp_bind_port} (in-process gate)")
            # uvicorn re-raises SIGTERM once it has shut down; by default that would kill the
            # process before the FTP server closes its sessions (and their grant sessions).
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        if not no_worker:
            threading.Thread(target=c.worker().run_forever, args=(stop,), daemon=True).start()
        try:
            serve_on(
                listening.app,
                listening.sockets,
                log_level=c.settings.log_level.lower(),
                # uvicorn would trust X-Forwarded-For from 127.0.0.1; the app trusts exactly
                # the configured proxies (`trusted_proxies`) instead.
                proxy_headers=False,
                log_config=access_log_config(),
            )
        finally:
            stop.set()
            if stop_ftp is not None:
                stop_ftp()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command()
@guarded
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run every job once and exit.")] = False,
) -> None:
    """Run the periodic jobs (expiry, retention, checkpoint signing) until interrupted."""
    with container() as c:
        configure_logging(c.settings.log_level)
        c.require_transports()
        c.start(deployed_by=operator())
        w = c.worker()
        if once:
            for job in w.jobs:
                outcome = w.run_job(job)
                status = "skipped" if not outcome.ran else ("ok" if outcome.ok else "FAILED")
                # a job that found nothing to do reports no detail (its log line is DEBUG)
                detail = outcome.detail or ("nothing to do" if outcome.ran and outcome.ok else "")
                console.print(f"{job.name}: {status} {detail}".rstrip())
            return
        stop = threading.Event()
        try:
            w.run_forever(stop)
        except KeyboardInterrupt:
            stop.set()


def main() -> None:
    app()
