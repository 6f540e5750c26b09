"""`entrusted mail ...`: the metadata-only mailbox monitor, and the Dovecot staff-login gate's
configuration (P10, P11, P13)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from entrusted.entrypoints.cli import mail_dovecot
from entrusted.entrypoints.cli.context import console, container, guarded, staff_actor
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


app.command("dovecot-config")(mail_dovecot.dovecot_config)
app.command("check")(mail_dovecot.check)
