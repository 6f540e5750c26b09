"""`entrusted deploy units`: the systemd units for this installation's paths (docs/deploy.md).

Writing files is all it does: no settings read, no database, nothing ledgered; installing
them (`systemctl enable`) is the operator's step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from entrusted import errors
from entrusted.entrypoints.cli.context import console, guarded
from entrusted.entrypoints.cli.deploy_units import (
    DEFAULT_API_HOST,
    DEFAULT_BINARY,
    DEFAULT_CONFIG,
    DEFAULT_DATA_DIR,
    DEFAULT_FTP_PORT,
    DEFAULT_FTP_ROOT,
    DEFAULT_USER,
    DEFAULT_WITNESS_DIR,
    Layout,
    render,
)

app = typer.Typer(help="Deployment files: the systemd units.", no_args_is_help=True)


@app.command("units")
@guarded
def units(
    out: Annotated[Path, typer.Option(help="Directory to write the .service files into.")],
    user: Annotated[str, typer.Option(help="The system user the services run as.")] = (
        DEFAULT_USER
    ),
    config: Annotated[str, typer.Option(help="The settings file the services read.")] = (
        DEFAULT_CONFIG
    ),
    binary: Annotated[str, typer.Option(help="The installed `entrusted` command.")] = (
        DEFAULT_BINARY
    ),
    data_dir: Annotated[str, typer.Option(help="The data directory (the one writable).")] = (
        DEFAULT_DATA_DIR
    ),
    witness_dir: Annotated[str, typer.Option(help="The witness's directory.")] = (
        DEFAULT_WITNESS_DIR
    ),
    ftp_root: Annotated[str, typer.Option(help="Where the FTP spaces are (FTP writes).")] = (
        DEFAULT_FTP_ROOT
    ),
    ftp_port: Annotated[
        int,
        typer.Option(
            min=1,
            max=65535,
            help="FTP control port; below 1024 adds the one capability to bind it.",
        ),
    ] = DEFAULT_FTP_PORT,
    api_host: Annotated[
        str,
        typer.Option(
            help="Address the API instances listen on: loopback when the proxy runs on the "
            "same machine, a private address when it does not (docs/deploy.md).",
        ),
    ] = DEFAULT_API_HOST,
    force: Annotated[bool, typer.Option("--force", help="Replace existing files.")] = False,
) -> None:
    """Write the systemd units (API instances, hooks, worker, FTP, witness) for these paths."""
    layout = Layout(binary=binary, config=config, user=user, data_dir=data_dir,
                    witness_dir=witness_dir, ftp_root=ftp_root, ftp_port=ftp_port,
                    api_host=api_host)  # fmt: skip
    files = render(layout)
    existing = sorted(name for name in files if (out / name).exists())
    if existing and not force:
        raise errors.Conflict(f"{out} already has {', '.join(existing)}; --force replaces them")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        console.print(f"wrote {out / name}")
