"""`entrusted mail dovecot-config` and `entrusted mail check`: the files a hoster drops into
an existing Dovecot, and a login through it that shows each link of the staff-login gate
working (docs/mail.md, "Adding Entrusted to an existing Dovecot")."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from entrusted.adapters.mail.dovecot import acl_rules, lua_source
from entrusted.adapters.mail.dovecot_config import (
    SUPPORTED_VERSIONS,
    DovecotLayout,
    dovecot_files,
    write_files,
)
from entrusted.entrypoints.cli.context import console, container, guarded, state
from entrusted.errors import InvalidInput

PASSWORD_ENV = "ENTRUSTED_MAIL_CHECK_PASSWORD"  # noqa: S105 - the variable's name


@guarded
def dovecot_config(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the files below DIR (laid out as /etc/dovecot)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files.")] = False,
    dovecot_dir: Annotated[
        str, typer.Option("--dovecot-dir", help="Dovecot's configuration directory.")
    ] = "/etc/dovecot",
    hook_url: Annotated[
        str | None,
        typer.Option("--hook-url", help="The mail-login hook (default: from the settings)."),
    ] = None,
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            help="The file holding the mail_hook token (default: "
            "DOVECOT_DIR/entrusted/mail_hook.token). Only its path is written.",
        ),
    ] = None,
    timeout_ms: Annotated[
        int, typer.Option("--timeout-ms", help="How long the script waits for the hook.")
    ] = 3000,
    version: Annotated[
        str,
        typer.Option("--dovecot-version", help=f"One of {', '.join(SUPPORTED_VERSIONS)}."),
    ] = "2.3",
    lua: Annotated[bool, typer.Option("--lua", help="Print only the Lua script.")] = False,
    acl: Annotated[bool, typer.Option("--acl", help="Print only the global ACL file.")] = False,
) -> None:
    """Write (--out) or print Dovecot's files: conf.d/90-entrusted.conf (staff master passdb,
    ACL plugin), the Lua passdb script, its settings and the global ACL file.

    The customers' passdb is not touched. Existing files are kept unless --force."""
    if lua or acl:
        typer.echo(lua_source() if lua else acl_rules(), nl=False)
        return
    from entrusted.bootstrap.mail_check import default_hook_url

    url = hook_url or default_hook_url(state.settings())
    layout = DovecotLayout(url, dovecot_dir, token_file, timeout_ms, version)
    files = dovecot_files(layout)
    if out is None:
        for f in files:
            typer.echo(f"# ==> {layout.path(f.relative)} (mode {f.mode:o}) <==")
            typer.echo(f.content)
        return
    for path in write_files(out, files, force):
        typer.echo(f"wrote {path} ({path.stat().st_mode & 0o777:o})")
    typer.echo(
        f"then: copy them into {dovecot_dir}, put `entrusted staff service-token mail_hook` "
        f"into {layout.token} (mode 0600, owner root), `doveconf -n`, reload Dovecot, "
        "`entrusted mail check` (docs/mail.md)"
    )


def _password(password_file: Path | None) -> str:
    """From --password-file, the environment, or a prompt: never from the command line,
    where other users see it (`ps`) and the shell history keeps it."""
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise InvalidInput("password_file", f"cannot read it: {exc.strerror}") from None
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise InvalidInput("password", f"give --password-file or {PASSWORD_ENV}")
    value: str = typer.prompt("Staff member's password", hide_input=True)
    return value


@guarded
def check(
    imap_host: Annotated[str, typer.Option("--imap-host", help="Dovecot's host.")],
    staff: Annotated[str, typer.Option("--staff", help="A test staff member's username.")],
    mailbox: Annotated[str, typer.Option("--mailbox", help="A mailbox address to log in to.")],
    imap_port: Annotated[
        int | None,
        typer.Option("--imap-port", min=1, max=65535, help="Default: 993 with --tls, else 143."),
    ] = None,
    tls: Annotated[bool, typer.Option("--tls", help="IMAPS: TLS from the start.")] = False,
    starttls: Annotated[
        bool, typer.Option("--starttls", help="STARTTLS on plain IMAP (the default).")
    ] = False,
    plain_loopback: Annotated[
        bool, typer.Option("--plain-loopback", help="No TLS; only to a loopback address.")
    ] = False,
    cafile: Annotated[
        Path | None, typer.Option("--cafile", help="CA certificates to verify Dovecot's.")
    ] = None,
    hook_url: Annotated[
        str | None,
        typer.Option("--hook-url", help="Entrusted's mail-login hook, to tell 'API down' apart."),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help=f"The password's file (or {PASSWORD_ENV})."),
    ] = None,
    use_grant: Annotated[
        bool,
        typer.Option(
            "--use-grant",
            help="Log in even when STAFF holds a usable grant on MAILBOX: the login is then a "
            "real entry into the mailbox and uses one of the grant's one-off sessions (P11). "
            "Without it the check refuses (exit 4) before sending anything.",
        ),
    ] = False,
) -> None:
    """Log in through Dovecot as MAILBOX*STAFF and report each step of the staff-login gate.

    Exit 0 when the chain works as configured: without a grant, a refusal ledgered by the
    rules is the success; 1 with the first failing step otherwise. Use a test staff member
    without a grant: under a grant the check refuses unless --use-grant."""
    from entrusted.adapters.mail.imap_probe import Security  # httpx loads only for the check

    if tls + starttls + plain_loopback > 1:
        raise InvalidInput("security", "give one of --tls, --starttls, --plain-loopback")
    security = (
        Security.TLS if tls else Security.PLAIN_LOOPBACK if plain_loopback else Security.STARTTLS
    )
    port = imap_port or (993 if tls else 143)
    from entrusted.bootstrap.mail_check import mail_check

    with container() as c:
        probe = mail_check(c, imap_host, port, security, hook_url, cafile)
        report = probe.run(staff, mailbox, _password(password_file), use_grant)
    for step in report.steps:
        mark = "[green]✓[/green]" if step.ok else "[red]✗[/red]"
        console.print(f"{mark} {step.step}: {escape(step.detail)}", highlight=False, soft_wrap=True)
        if step.hint:
            console.print(f"    hint: {escape(step.hint)}", highlight=False, soft_wrap=True)
    failed = report.failed
    if failed is not None:
        console.print(f"[red]failed at: {failed.step}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(
        "[green]the staff-login gate works as configured[/green]", highlight=False, soft_wrap=True
    )
