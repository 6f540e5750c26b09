"""`entrusted mail ...`: the metadata-only mailbox monitor, and the Dovecot staff-login gate's
configuration (P10, P11, P13)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from entrusted.adapters.mail.dovecot import (
    ACL_FILE,
    LUA_FILE,
    acl_rules,
    lua_source,
    passdb_snippet,
)
from entrusted.entrypoints.cli.context import console, container, guarded, staff_actor, state
from entrusted.entrypoints.cli.customers import AsOption

app = typer.Typer(help="Mailbox metadata and the Dovecot staff-login gate.", no_args_is_help=True)


@app.command("monitor")
@guarded
def monitor(
    address: Annotated[str, typer.Argument(help="The mailbox address.")], as_: AsOption
) -> None:
    """Show a mailbox's total size, folder names and per-folder counts (never a message)."""
    with container() as c:
        meta = c.mailbox_monitor.metadata(staff_actor(c, as_), address)
    table = Table("folder", "messages", "bytes", title=f"mailbox {meta.service_id}")
    for f in meta.folders:
        table.add_row(escape(f.name), f"{f.messages:,}", f"{f.bytes:,}")
    table.add_row("[bold]total[/bold]", f"{meta.messages:,}", f"{meta.bytes:,}")
    console.print(table)


@app.command("dovecot-config")
@guarded
def dovecot_config(
    lua_path: Annotated[
        str, typer.Option("--lua-path", help="Where the Lua script is installed.")
    ] = f"/usr/share/entrusted/{LUA_FILE}",
    token_file: Annotated[
        str, typer.Option("--token-file", help="File holding the mail_hook service token.")
    ] = "/etc/dovecot/entrusted.token",  # noqa: S107 - a path, not a secret
    acl_path: Annotated[
        str, typer.Option("--acl-path", help="Where the global ACL file is installed.")
    ] = f"/etc/dovecot/{ACL_FILE}",
    lua: Annotated[
        bool, typer.Option("--lua", help="Print the Lua passdb script instead.")
    ] = False,
    acl: Annotated[bool, typer.Option("--acl", help="Print the global ACL file instead.")] = False,
) -> None:
    """Print the dovecot.conf snippet (staff passdb, read-only ACLs), Lua script or ACL file.

    With --lua, the Lua passdb script; with --acl, the global ACL file that makes read-only
    grants read-only (docs/mail.md)."""
    if lua:
        typer.echo(lua_source(), nl=False)
        return
    if acl:
        typer.echo(acl_rules(), nl=False)
        return
    s = state.settings()
    url = f"http://{s.bind_host}:{s.bind_port}/v1/gate/mail-login"
    typer.echo(passdb_snippet(lua_path, url, token_file, acl_path), nl=False)
