"""`entrusted ftp ...`: the FTPS server of the private backup space (P9), a self-signed
certificate for trying it out, and a space's sizes for support."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.bootstrap import ftp_server, ftp_tls_files, remote_ftp_server
from entrusted.entrypoints.cli.context import console, container, guarded, staff_actor, state
from entrusted.entrypoints.cli.customers import AsOption, CaseOption, TicketOption
from entrusted.entrypoints.cli.listen import taking_port
from entrusted.services.gate import AccessContext

app = typer.Typer(
    help="The FTPS backup space: its server, its certificate, a space's sizes.",
    no_args_is_help=True,
)


@app.command("serve")
@guarded
def serve() -> None:
    """Serve the FTPS backup space (TLS required; customers, and staff under a grant).

    With `ftp_gate_url` set, the gate is asked over HTTP (this host needs no database)."""
    s = state.settings()
    # SIGTERM stops serving as Ctrl-C does: every connection closed, with its grant session.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if s.ftp_gate_url is not None:
        with taking_port(s.ftp_bind_host, s.ftp_bind_port):
            server, door = remote_ftp_server(s)
        console.print(f"FTPS on {s.ftp_bind_host}:{s.ftp_bind_port}, gate at {s.ftp_gate_url}")
        try:
            server.serve_forever(handle_exit=True)
        finally:
            server.close_all()
            door.close()
        return
    with container() as c:
        with taking_port(s.ftp_bind_host, s.ftp_bind_port):
            server = ftp_server(c)
        console.print(f"FTPS on {s.ftp_bind_host}:{s.ftp_bind_port} (Ctrl-C to stop)")
        try:
            server.serve_forever(handle_exit=True)
        finally:
            server.close_all()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@app.command("selfsigned")
@guarded
def selfsigned() -> None:
    """Write a self-signed certificate and key for the FTPS server (testing only)."""
    s = state.settings()
    cert, key = ftp_tls_files(s)
    write_selfsigned(cert, key, s.ftp_bind_host)
    console.print(f"wrote {cert} and {key} (0600)")


@app.command("sizes")
@guarded
def sizes(
    name: Annotated[str, typer.Argument(help="The FTP space's account name.")],
    as_: AsOption,
    case: CaseOption = None,
    ticket: TicketOption = None,
) -> None:
    """Show an FTP space's file count and total size (support; never a file or folder name).

    A look-up like a customer's summary: needs --case (of the space's holder) or --ticket."""
    with container() as c:
        reason = AccessContext(case_id=case, ticket=ticket)
        got = c.ftp_space_monitor.sizes(staff_actor(c, as_), name, reason)
    console.print(f"FTP space {got.service_id}: {got.files:,} files, {got.bytes:,} bytes")
