"""`entrusted ftp ...`: the FTPS server of the private backup space (P9), and a self-signed
certificate for trying it out."""

from __future__ import annotations

import typer

from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.bootstrap import ftp_server, ftp_tls_files
from entrusted.entrypoints.cli.context import console, container, guarded, state

app = typer.Typer(help="The FTPS backup space server and its certificate.", no_args_is_help=True)


@app.command("serve")
@guarded
def serve() -> None:
    """Serve the FTPS backup space (TLS required; customers, and staff under a grant)."""
    with container() as c:
        server = ftp_server(c)
        s = c.settings
        console.print(f"FTPS on {s.ftp_bind_host}:{s.ftp_bind_port} (Ctrl-C to stop)")
        try:
            server.serve_forever(handle_exit=True)
        finally:
            server.close_all()


@app.command("selfsigned")
@guarded
def selfsigned() -> None:
    """Write a self-signed certificate and key for the FTPS server (testing only)."""
    s = state.settings()
    cert, key = ftp_tls_files(s)
    write_selfsigned(cert, key, s.ftp_bind_host)
    console.print(f"wrote {cert} and {key} (0600)")
