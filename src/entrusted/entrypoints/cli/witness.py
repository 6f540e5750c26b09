"""`entrusted witness ...`: run a witness for someone else's log (C2SP tlog-witness).

Meant for another party (a partner hoster, an auditor, the customer association): `init`
creates the witness's own key and state in a directory of its own, `trust` adds a log's
verifier key, and `serve` answers `POST /add-checkpoint`, cosigning only checkpoints that
extend the last one it cosigned for that log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from entrusted.adapters.witness_store import (
    STATE_FILE,
    SqliteWitnessStore,
    init_witness_dir,
    open_witness,
)
from entrusted.entrypoints.cli.context import console, guarded

app = typer.Typer(
    help="Run a witness that cosigns another party's log checkpoints (C2SP tlog-witness).",
    no_args_is_help=True,
)

DirArg = Annotated[Path, typer.Argument(help="The witness's own directory (key and state).")]


@app.command("init")
@guarded
def init(
    directory: DirArg,
    name: Annotated[str, typer.Option(help="The witness's key name, e.g. witness.example.com/w1")],
    log: Annotated[
        list[str] | None, typer.Option(help="A log's verifier key to witness (repeatable).")
    ] = None,
) -> None:
    """Create the witness key (mode 0600) and state, and print the witness's verifier key.

    The directory is created (mode 0700) if it does not exist."""
    vkey, store = init_witness_dir(directory, name)
    for log_vkey in log or []:
        console.print(f"witnessing {store.trust(log_vkey)}", highlight=False)
    console.print(vkey, highlight=False, soft_wrap=True)


@app.command("trust")
@guarded
def trust(
    directory: DirArg,
    vkey: Annotated[str, typer.Argument(help="The log's verifier key (signed-note vkey).")],
) -> None:
    """Witness one more log (or replace the key of a log already witnessed)."""
    origin = SqliteWitnessStore(directory / STATE_FILE).trust(vkey)
    console.print(f"witnessing {origin}", highlight=False)


@app.command("serve")
@guarded
def serve(
    directory: DirArg,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7380,
) -> None:
    """Serve POST /add-checkpoint (and GET /vkey) until stopped."""
    from entrusted.adapters.witness_http import witness_app
    from entrusted.entrypoints.cli.listen import serve_asgi

    witness, store = open_witness(directory, lambda: datetime.now(UTC))
    console.print(f"witness {witness.vkey} on http://{host}:{port}", highlight=False)
    try:
        serve_asgi(witness_app(witness), host, port, log_level="warning")
    finally:
        store.close()
