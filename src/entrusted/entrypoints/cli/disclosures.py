"""`entrusted disclosures ...`: the disclosure desk (P4, P5), for legal officers (`--as
USERNAME`, proven by their credential). Record a third-party request (answered with a
refusal), register a Swiss court order with its document, propose a disclosure, approve it
as a second officer, export it once into a file; `lift` is the worker's job queueing notices
whose deferral has ended."""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from entrusted.domain.ids import IdKind
from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    operator_actor,
    staff_actor,
)
from entrusted.entrypoints.cli.ids import id_of
from entrusted.errors import Conflict, InvalidInput
from entrusted.services.court_orders import MAX_DOCUMENT, OrderForm, RequestForm

app = typer.Typer(
    help="The disclosure desk: third-party requests, Swiss court orders, scoped disclosures.",
    no_args_is_help=True,
)

AsOption = Annotated[str, typer.Option("--as", help="The legal officer (username) acting.")]
CustomerOption = Annotated[
    list[str] | None,
    typer.Option("--customer", help="A customer id (repeat for several).",
                 callback=lambda v: [id_of(IdKind.CUSTOMER)(x) for x in v or []]),
]
CategoryOption = Annotated[
    list[str] | None,
    typer.Option("--category",
                 help="personal_details, contracts, identifications or transfers (repeat)."),
]
DisclosureArg = Annotated[
    str, typer.Argument(help="The disclosure's id.", callback=id_of(IdKind.DISCLOSURE))
]


def _say(text: str) -> None:
    console.print(text, highlight=False)


@app.command("request")
@guarded
def request(
    username: AsOption,
    requester: Annotated[str, typer.Option(help="Who asks.")],
    authority: Annotated[str, typer.Option(help="For which authority.")],
    asked: Annotated[str, typer.Option(help="What is asked for.")],
    legal_basis: Annotated[str, typer.Option(help="The legal basis cited.")],
    customer: CustomerOption = None,
) -> None:
    """Record a third-party request; it is refused (ledgered) without a court order."""
    form = RequestForm(requester, authority, asked, legal_basis, customer or [])
    with container() as c:
        done = c.desk.orders.record_request(staff_actor(c, username), form)
    _say(f"request {done.id} recorded; answer: {done.answer}")


@app.command("register-order")
@guarded
def register_order(
    username: AsOption,
    court: Annotated[str, typer.Option(help="CH-BGer, CH-BStGer, CH-BVGer, CH-BPatGer or CH-ZH…")],
    case_number: Annotated[str, typer.Option(help="The court's case number.")],
    issued_on: Annotated[str, typer.Option(help="The order's date (YYYY-MM-DD).")],
    valid_until: Annotated[str, typer.Option(help="Last day it may be acted on (YYYY-MM-DD).")],
    document: Annotated[Path, typer.Option(help="The order's file.", exists=True, dir_okay=False)],
    customer: CustomerOption = None,
    category: CategoryOption = None,
    notice_after: Annotated[
        str | None, typer.Option(help="The customer may not be told before (YYYY-MM-DD).")
    ] = None,
    sha256: Annotated[str | None, typer.Option(help="The document's expected SHA-256.")] = None,
    request_id: Annotated[
        str | None,
        typer.Option("--request", help="The request it answers.",
                     callback=id_of(IdKind.THIRD_PARTY_REQUEST)),
    ] = None,
) -> None:
    """Register a Swiss court order (legal); foreign or expired orders are refused."""
    content = _read_document(document)
    form = OrderForm(
        court, case_number, _day("issued_on", issued_on), _day("valid_until", valid_until),
        customer or [], category or [],
        _day("notice_after", notice_after) if notice_after else None, sha256, request_id,
    )
    with container() as c:
        order = c.desk.orders.register_order(staff_actor(c, username), form, content)
    _say(f"court order {order.id} registered ({order.court} {order.case_number}), "
         f"document sha256 {order.document_sha256}")


@app.command("orders")
@guarded
def orders(username: AsOption) -> None:
    """The registered court orders."""
    with container() as c:
        found = c.desk.orders.orders(staff_actor(c, username))
    for o in found:
        _say(f"{o.id}  {o.court} {o.case_number}  valid {o.issued_on}..{o.valid_until}  "
             f"{len(o.customer_ids)} customer(s)  {', '.join(sorted(o.categories))}")


@app.command("propose")
@guarded
def propose(
    username: AsOption,
    order: Annotated[
        str, typer.Option("--order", help="The court order.", callback=id_of(IdKind.COURT_ORDER))
    ],
    customer: CustomerOption = None,
    category: CategoryOption = None,
) -> None:
    """Propose a disclosure under an order (default: all it covers)."""
    with container() as c:
        d = c.desk.disclosures.propose(
            staff_actor(c, username), order, customer or [], category or []
        )
    _say(f"disclosure {d.id} proposed; a second legal officer must approve it")


@app.command("approve")
@guarded
def approve(disclosure_id: DisclosureArg, username: AsOption) -> None:
    """Approve a disclosure (a legal officer other than the one who proposed it)."""
    with container() as c:
        d = c.desk.disclosures.approve(staff_actor(c, username), disclosure_id)
    _say(f"disclosure {d.id} approved by {d.approved_by}")


@app.command("export")
@guarded
def export(
    disclosure_id: DisclosureArg,
    username: AsOption,
    out: Annotated[Path, typer.Option("--out", help="A new file for the export (JSON).")],
) -> None:
    """Export an approved disclosure into a new file, once: exactly what the order covers."""
    # The file is claimed first (new, owner-only): a disclosure is never marked done with
    # nowhere to write it; on a refusal the empty file goes again.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{out} exists; the export is written to a new file only") from None
    except OSError as exc:  # no such directory, no permission, ...: nothing was exported
        raise InvalidInput("out", f"cannot create {out}: {exc.strerror}") from None
    try:
        with container() as c:
            document = c.desk.disclosures.export(staff_actor(c, username), disclosure_id)
    except BaseException:
        os.close(fd)
        out.unlink()
        raise
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=2)
    _say(f"disclosure {disclosure_id} exported to {out} "
         f"({len(document['customers'])} customer(s))")


@app.command("list")
@guarded
def list_(username: AsOption) -> None:
    """The disclosures: status, approver, and the customer's notice."""
    with container() as c:
        found = c.desk.disclosures.list(staff_actor(c, username))
    for d in found:
        notice = d.notice.value + (f" until {d.notice_after}" if d.notice_after else "")
        _say(f"{d.id}  order {d.order_id}  {d.status.value}  by {d.requested_by}"
             f"  approved by {d.approved_by or '-'}  notice {notice}")


@app.command("lift")
@guarded
def lift() -> None:
    """Queue the customer notices whose deferral has ended (the worker's disclosures.lift)."""
    with container() as c:
        n = c.desk.disclosures.lift_deferred(operator_actor())
    _say(f"{n} deferred notice(s) lifted")


def _read_document(path: Path) -> bytes:
    """The order's file, read at most one byte past the limit: a device (`/dev/zero` has no
    size to check) or a pipe is refused, never read until memory runs out. Opened without
    blocking (a FIFO with no writer) and checked on the open file, not the name."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InvalidInput("document", f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput("document", f"{path} is not a regular file")
        content = f.read(MAX_DOCUMENT + 1)
    if len(content) > MAX_DOCUMENT:
        raise InvalidInput("document", f"is larger than {MAX_DOCUMENT >> 20} MiB")
    return content


def _day(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "is a date like 2026-12-31") from None
