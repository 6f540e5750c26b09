"""`entrusted ledger ...`: audit, sign, prove and export the tamper-evident access log (P3, P14).

`verify-receipt` is for customers and their auditors: it reads a receipt file and a public key
and touches no data directory and no database, so it runs anywhere Entrusted is installed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.bootstrap import Container, adopt_ledger_record, tile_source
from entrusted.domain.checkpoint import b64encode
from entrusted.domain.ids import IdKind
from entrusted.entrypoints.cli.context import (
    console,
    container,
    err_console,
    guarded,
    operator_actor,
    progress_bar,
)
from entrusted.entrypoints.cli.ids import id_of
from entrusted.errors import InvalidInput, TamperDetected
from entrusted.services.disclosure_holdback import CustomerFacingLog
from entrusted.services.ledger_monitor import MonitorState, monitor
from entrusted.services.receipts import ReceiptService, verify_receipt
from entrusted.services.witness_submit import WitnessPolicy

app = typer.Typer(
    help="Audit, sign, prove and export the tamper-evident ledger of every access decision.",
    no_args_is_help=True,
)

MAX_RECEIPT_BYTES = 256 << 20  # a receipt of ~1M entries; anything larger is not ours

KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Verifier key to trust: a vkey string or a .pub file "
        "(default: this installation's signing key).",
    ),
]


WitnessOption = Annotated[
    list[str] | None,
    typer.Option(
        "--witness",
        help="A witness's verifier key (vkey or .pub file), repeatable: the checkpoint must "
        "carry cosignatures by --quorum of them.",
    ),
]
QuorumOption = Annotated[
    int | None,
    typer.Option("--quorum", help="How many --witness keys must have cosigned (default: all)."),
]


def _witness_policy(witness: list[str] | None, quorum: int | None) -> WitnessPolicy | None:
    if not witness:
        if quorum:
            raise InvalidInput("quorum", "--quorum needs --witness keys")
        return None
    keys = tuple(_vkey(w) for w in witness)
    return WitnessPolicy(keys, len(keys) if quorum is None else quorum)


def _cosigned_by(names: tuple[str, ...]) -> None:
    if names:
        console.print(f"cosigned by: {', '.join(names)}", highlight=False, soft_wrap=True)


def _receipts(c: Container) -> ReceiptService:
    return ReceiptService(c.ledger_store, c.checkpoints)


def _vkey(value: str) -> str:
    """A vkey given as text, or as the path of a file holding one (like `ledger.key.pub`)."""
    path = Path(value)
    if "+" not in value or path.is_file():
        try:
            return path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput("key", f"{value} is neither a vkey nor a readable key file") from exc
    return value


@app.command("verify")
@guarded
def verify(
    key: KeyOption = None,
    one_process: Annotated[
        bool,
        typer.Option(
            "--one-process",
            help="Check every entry in this process; by default a log of 400,000 entries or "
            "more is shared with a second process on a machine with two cores or more.",
        ),
    ] = False,
) -> None:
    """Recompute the whole log from its entries; check every tile, root and checkpoint.

    On a large log a second process checks part of the entries meanwhile (same snapshot on
    PostgreSQL; the result is the same). On tampering, print the first bad entry (or the bad
    tile or checkpoint) and exit with 9.
    """
    with container() as c:
        vkey = _vkey(key) if key else c.checkpoints.key_list
        started = time.perf_counter()
        with progress_bar("verifying", on_terminal_only=False) as bar:
            task = bar.add_task("entries", total=None)
            try:
                report = verify_ledger(
                    c.engine,
                    vkey,
                    lambda done, total: bar.update(task, completed=done, total=total),
                    parallel=False if one_process else None,
                )
            except TamperDetected as exc:
                if exc.index is not None:
                    err_console.print(
                        f"first bad entry: {exc.index}", highlight=False, soft_wrap=True
                    )
                raise
        against_record = c.checkpoints.check_record()
    seconds = time.perf_counter() - started
    rate = f", {report.size / seconds:,.0f} entries/s" if seconds and report.size else ""
    if report.processes > 1:
        rate += f" in {report.processes} processes"
    console.print(
        f"ledger verified: {report.size:,} entries, {report.tiles:,} tiles, "
        f"{report.checkpoints:,} checkpoints, root {report.root.hex()} "
        f"({seconds:.2f} s{rate}); {against_record}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("adopt-record")
@guarded
def adopt_record() -> None:
    """Verify the whole log and write a new signed local record for this data directory.

    `serve` refuses a log that holds signed checkpoints when the data directory has no local
    record (a rolled-back database would look exactly like that). Run this only after checking
    the log against its published checkpoints (`ledger monitor`): after restoring a data
    directory, or for a new instance on a shared PostgreSQL database. The adoption is ledgered.
    """
    with container() as c:
        console.print(adopt_ledger_record(c, operator_actor()), highlight=False, soft_wrap=True)


@app.command("checkpoint")
@guarded
def checkpoint() -> None:
    """Sign a checkpoint of the log as it is now and print the signed note."""
    with container() as c:
        signed = c.checkpoints.sign(force=True)
    assert signed is not None  # forced signing always signs
    typer.echo(signed.note, nl=False)


@app.command("prove")
@guarded
def prove(
    index: Annotated[int, typer.Argument(help="Index of the entry to prove, from 0.")],
    size: Annotated[
        int | None,
        typer.Option(
            "--size",
            help="Prove against the signed checkpoint of this tree size (default: latest).",
        ),
    ] = None,
) -> None:
    """Print an entry, its leaf hash, and its inclusion proof against a signed checkpoint.

    The proof is verified as a customer would verify it; exit 9 if it does not hold.
    """
    with container() as c:
        check = _receipts(c).prove(index, size)
    try:
        shown = json.dumps(json.loads(check.body), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        shown = b64encode(check.body) + "  (base64)"
    console.print(f"entry {check.index} of {check.size}:", highlight=False, soft_wrap=True)
    console.print(escape(shown), highlight=False, soft_wrap=True)
    console.print(f"leaf hash: {check.leaf_hash.hex()}", highlight=False, soft_wrap=True)
    console.print(
        f"inclusion proof ({len(check.proof)} hashes, deepest first):",
        highlight=False,
        soft_wrap=True,
    )
    for h in check.proof:
        console.print(f"  {b64encode(h)}", highlight=False, soft_wrap=True)
    console.print("checkpoint:", highlight=False, soft_wrap=True)
    typer.echo(check.note, nl=False)
    if not check.verified:
        raise TamperDetected(f"the inclusion proof of entry {index} does not verify", index=index)
    console.print("verifies: yes", highlight=False, soft_wrap=True)


@app.command("export")
@guarded
def export(
    customer: Annotated[
        str,
        typer.Option(
            "--customer",
            help="Customer id (cus_...) whose receipt to build.",
            callback=id_of(IdKind.CUSTOMER),
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the receipt here instead of standard output."),
    ] = None,
) -> None:
    """Export a customer's receipt: their entries and checkpoints, with proofs.

    Each entry filed under the customer comes with an inclusion proof against the latest signed
    checkpoint (signed now if the log grew), and every earlier checkpoint with a consistency
    proof to it. Hand the file to the customer; `verify-receipt` checks it.
    """
    with container() as c:
        # The receipt is handed to the customer: a disclosure whose notice a court order
        # defers is held back from it until lifted (P5; services/disclosure_holdback.py).
        log = CustomerFacingLog(c.ledger_store, c.desk.held_back)
        receipt = ReceiptService(log, c.checkpoints, c.registry.is_customer).export(customer)
    text = json.dumps(receipt, indent=1) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    console.print(
        f"wrote {output}: {len(receipt['entries'])} entries about {customer}, "
        f"{len(receipt['earlier_checkpoints'])} earlier checkpoints",
        highlight=False,
        soft_wrap=True,
    )


@app.command("monitor")
@guarded
def monitor_cmd(
    url: Annotated[str, typer.Argument(help="The log's tiles URL, e.g. https://HOST/v1/ledger.")],
    state: Annotated[
        Path,
        typer.Option("--state", help="File keeping the last verified checkpoint.", dir_okay=False),
    ],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The log's verifier key (vkey or .pub file); needed on the first run, then "
            "kept in the state file.",
        ),
    ] = None,
    witness: WitnessOption = None,
    quorum: QuorumOption = None,
) -> None:
    """Hold a published log to its own history: fail loudly on a rollback or a fork.

    Fetches the newest checkpoint, checks its signature, and proves from the log's public
    tiles that it extends the checkpoint kept in --state; only then is the state advanced.
    A rollback or fork exits 9 and leaves the state file as it was. Needs no data directory.
    """
    previous = _read_state(state)
    if key is not None:
        vkey = _vkey(key)
    elif previous is not None:
        vkey = previous.vkey
    else:
        raise InvalidInput("key", "the first run needs --key (the log's verifier key)")
    with tile_source(url) as source:
        report = monitor(source, vkey, previous, _witness_policy(witness, quorum))
    _write_state(state, report.state)
    before = "first look" if previous is None else f"consistent with size {previous.size}"
    console.print(
        f"log verified: checkpoint of size {report.state.size} (root "
        f"{report.state.root.hex()}), {before}, {report.tiles} tiles fetched",
        highlight=False,
        soft_wrap=True,
    )
    _cosigned_by(report.witnesses)


def _read_state(path: Path) -> MonitorState | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("state", f"cannot read {path}: {exc}") from None
    return MonitorState.from_json(text)


def _write_state(path: Path, state: MonitorState) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(state.to_json() + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InvalidInput("state", f"cannot write {path}: {exc.strerror}") from None


@app.command("verify-receipt")
@guarded
def verify_receipt_cmd(
    file: Annotated[Path, typer.Argument(help="The receipt (JSON) to check.", dir_okay=False)],
    key: Annotated[
        str,
        typer.Option(
            "--key", help="The log's published verifier key: a vkey string or a .pub file."
        ),
    ],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="Also prove the receipt's checkpoint consistent with the log at this tiles "
            "URL today (e.g. https://HOST/v1/ledger).",
        ),
    ] = None,
    witness: WitnessOption = None,
    quorum: QuorumOption = None,
) -> None:
    """Check a receipt offline, with only the log's public key.

    Needs no data directory and no database: checks the checkpoint signature, every inclusion
    and consistency proof, and that every entry is about the receipt's customer. With
    --against, also proves from the log's public tiles that today's log still extends the
    receipt's checkpoint: a history rewritten since the receipt was issued exits 9.
    """
    try:
        with file.open("rb") as fh:
            raw = fh.read(MAX_RECEIPT_BYTES + 1)
    except OSError as exc:
        raise InvalidInput("receipt", f"cannot read {file}: {exc.strerror}") from None
    if len(raw) > MAX_RECEIPT_BYTES:
        raise InvalidInput("receipt", f"{file} is larger than {MAX_RECEIPT_BYTES} bytes")
    try:
        receipt = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("receipt", f"{file} is not JSON: {exc}") from None
    vkey = _vkey(key)
    report = verify_receipt(receipt, vkey, _witness_policy(witness, quorum))
    if against is not None:
        seen = MonitorState(vkey, report.size, report.root, receipt["checkpoint"])
        with tile_source(against) as source:
            today = monitor(source, vkey, seen).state
        console.print(
            f"the log at {against} today (size {today.size}) is consistent with the receipt's "
            f"checkpoint (size {report.size})",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"receipt verified: {len(report.entries)} entries about {report.customer} are in the "
        f"log {report.origin} signed at size {report.size} (root {report.root.hex()}); "
        f"{report.earlier_checkpoints} earlier checkpoints are consistent with it",
        highlight=False,
        soft_wrap=True,
    )
    _cosigned_by(report.witnesses)
    for index, entry in report.entries:
        console.print(
            f"  #{index} {entry.time.isoformat()} {entry.actor_kind} {entry.actor_id} "
            f"{entry.action} {entry.resource_kind} {entry.resource_id}: {entry.decision}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
