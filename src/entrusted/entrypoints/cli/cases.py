"""`entrusted cases ...`: support cases, access requests and verbal consent for operators
(P9, P10, P11).

Every command acts as a staff member (`--as`), decided by the gate and ledgered under their
id. A customer approves an access request through the API with the e-mailed link; verbal
consent is recorded here only after `entrusted customers identify` / `verify` with the same
`--case`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from entrusted.domain.cases import Case
from entrusted.domain.ids import IdKind
from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    staff_actor,
)
from entrusted.entrypoints.cli.customers import AsOption
from entrusted.entrypoints.cli.ids import id_of
from entrusted.services.cases import PAGE_DEFAULT, PAGE_MAX

app = typer.Typer(help="Support cases, access requests and verbal consent.", no_args_is_help=True)

CaseArg = Annotated[str, typer.Argument(help="Case id (case_...).", callback=id_of(IdKind.CASE))]
ServiceOption = Annotated[
    str,
    typer.Option(
        "--service",
        help="The mailbox or FTP space (svc_...) of the case's contract.",
        callback=id_of(IdKind.SERVICE),
    ),
]
ReadOnlyOption = Annotated[bool, typer.Option("--read-only", help="Ask for read-only access.")]
SessionsOption = Annotated[
    int,
    typer.Option(
        "--sessions",
        min=1,
        max=20,
        help="Sessions the grant allows: at most the `grant_max_sessions` setting (default 3).",
    ),
]


def print_case(case: Case) -> None:
    flags = []
    if case.reopened_from:
        flags.append(f"reopens {case.reopened_from}")
    if case.flagged_at:
        flags.append("FLAGGED")
    extra = f"  ({', '.join(flags)})" if flags else ""
    console.print(
        f"{case.id}  {case.status.value:<8} contract {case.contract_id}  customer "
        f"{case.customer_id}  {escape(case.subject)}{extra}",
        highlight=False,
    )


@app.command("open")
@guarded
def open_(
    contract_id: Annotated[
        str, typer.Argument(help="Contract id (ctr_...).", callback=id_of(IdKind.CONTRACT))
    ],
    subject: Annotated[str, typer.Option("--subject", help="What the case is about.")],
    as_: AsOption,
) -> None:
    """Open a support case for a contract."""
    with container() as c:
        print_case(c.cases.open(staff_actor(c, as_), contract_id, subject))


@app.command("list")
@guarded
def list_(
    as_: AsOption,
    status: Annotated[str | None, typer.Option("--status", help="open or resolved.")] = None,
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="One customer's.", callback=id_of(IdKind.CUSTOMER)),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=PAGE_MAX)] = PAGE_DEFAULT,
) -> None:
    """List cases, newest first: one customer's (--customer), or else only your own."""
    with container() as c:
        for case in c.cases.find(staff_actor(c, as_), status, customer, limit):
            print_case(case)


@app.command("show")
@guarded
def show(case_id: CaseArg, as_: AsOption) -> None:
    """Show a case with its identifications, requests, grants and verbal consents."""
    with container() as c:
        view = c.cases.get(staff_actor(c, as_), case_id)
        now = c.clock()
    print_case(view.case)
    for i in view.identifications:
        console.print(
            f"  identification {i.id}  {i.method.value}  {i.state_at(now).value}  by {i.staff_id}",
            highlight=False,
        )
    for r in view.requests:
        console.print(
            f"  request {r.id}  {r.service_kind.value} {r.service_id}  "
            f"{r.status.value}  by {r.staff_id}",
            highlight=False,
        )
    for g in view.grants:
        state = "active" if g.active_at(now) else f"ended ({g.end_reason or 'expired'})"
        console.print(
            f"  grant {g.id}  {g.service_kind.value} {g.service_id}  for {g.staff_id}"
            f"  {g.sessions_used}/{g.max_sessions} session(s)  {state}  approved by "
            f"{g.approved_by} ({g.origin.value})",
            highlight=False,
        )
    for v in view.consents:
        console.print(
            f"  verbal consent {v.id}  by {v.staff_id}  identification "
            f"{v.identification_id}: {escape(v.scope)}",
            highlight=False,
        )


@app.command("resolve")
@guarded
def resolve(case_id: CaseArg, as_: AsOption) -> None:
    """Resolve a case: every grant on it ends now, and the customer gets a closing summary."""
    with container() as c:
        print_case(c.cases.resolve(staff_actor(c, as_), case_id))


@app.command("reopen")
@guarded
def reopen(
    case_id: CaseArg,
    as_: AsOption,
    subject: Annotated[str | None, typer.Option("--subject", help="A new subject.")] = None,
) -> None:
    """Continue a resolved case as a new case: a new consent scope, no grant carried over."""
    with container() as c:
        print_case(c.cases.reopen(staff_actor(c, as_), case_id, subject))


@app.command("request")
@guarded
def request(
    case_id: CaseArg,
    service: ServiceOption,
    why: Annotated[str, typer.Option("--why", help="The justification the customer reads.")],
    as_: AsOption,
    read_only: ReadOnlyOption = False,
    sessions: SessionsOption = 1,
) -> None:
    """Ask the contract holder for access to one mailbox or FTP space; they get a link."""
    with container() as c:
        made = c.consent.request(
            staff_actor(c, as_), case_id, service, why, read_only=read_only, sessions=sessions
        )
    console.print(
        f"asked: request {made.id}, pending until {made.expires_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )


@app.command("consent")
@guarded
def consent(
    case_id: CaseArg,
    service: ServiceOption,
    as_: AsOption,
    read_back: Annotated[
        bool, typer.Option("--read-back", help="You read the scope back and the caller agreed.")
    ] = False,
    read_only: ReadOnlyOption = False,
    sessions: SessionsOption = 1,
) -> None:
    """Record the identified caller's verbal consent; they are e-mailed a receipt."""
    with container() as c:
        record, grant = c.verbal_consent.record(
            staff_actor(c, as_),
            case_id,
            service,
            read_back=read_back,
            read_only=read_only,
            sessions=sessions,
        )
    console.print(
        f"recorded {record.id}: grant {grant.id} for {grant.staff_id} until "
        f"{grant.expires_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    console.print(f"  {escape(record.scope)}", highlight=False)
