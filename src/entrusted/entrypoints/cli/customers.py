"""`entrusted customers ...`: register and import customers, identify callers, look them up.

Commands that read customer data act as a named staff member (`--as USERNAME`), so the gate
decides by that person's roles and the ledger names them: support sees a caller's name and
contracts, a sysadmin sees nothing. Registration and import act as the operator at this
console. There is no bulk export (P4); `export` exists to show that the attempt is refused
and recorded.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from entrusted.domain.ids import IdKind
from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    operator_actor,
    progress_bar,
    staff_actor,
)
from entrusted.entrypoints.cli.ids import id_of
from entrusted.errors import InvalidInput
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import Registration, ServiceRequest
from entrusted.services.registry_lookup import CallerView

app = typer.Typer(
    help="Register and import customers, identify callers, find contract holders.",
    no_args_is_help=True,
)

AsOption = Annotated[str, typer.Option("--as", help="The staff member (username) this is done as.")]
CaseOption = Annotated[
    str | None,
    typer.Option(
        "--case", help="The support case this is part of.", callback=id_of(IdKind.CASE)
    ),
]
TicketOption = Annotated[
    str | None, typer.Option("--ticket", help="The helpdesk ticket this look-up answers.")
]
COLUMNS = ("last_name", "first_name", "email", "phone", "mobile", "language", "time_zone")
REQUIRED = COLUMNS[:3]


def services_from(mailbox: list[str], website: list[str], ftp: list[str]) -> list[ServiceRequest]:
    return [
        *(ServiceRequest("mailbox", m) for m in mailbox),
        *(ServiceRequest("website", w) for w in website),
        *(ServiceRequest("ftp_space", f) for f in ftp),
    ]


MailboxOption = Annotated[
    list[str], typer.Option("--mailbox", help="A hosted mailbox address; repeat for several.")
]
WebsiteOption = Annotated[
    list[str], typer.Option("--website", help="A hosted site's host name; repeat for several.")
]
FtpOption = Annotated[
    list[str], typer.Option("--ftp", help="An FTP backup space account; repeat for several.")
]


def print_caller(view: CallerView) -> None:
    """The masked hints until the caller is identified; then the name and contracts."""
    summary = view.summary
    if summary is None:
        mobile = f", mobile {view.mobile_hint}" if view.mobile_hint else ""
        console.print(
            Text(
                f"{view.id}  {view.initials} (not identified yet: e-mail {view.email_hint}"
                f"{mobile}; contracts {', '.join(view.contract_ids) or 'none'}; "
                f"identify by {', '.join(m.value for m in view.methods)})"
            )
        )
        return
    console.print(Text(f"{summary.id}  {summary.last_name}, {summary.first_name}"))
    table = Table("contract", "status", "since", "services")
    for c in summary.contracts:
        services = ", ".join(f"{s.kind.value}: {s.name}" for s in c.services)
        table.add_row(c.id, c.status.value, f"{c.created_at:%Y-%m-%d}", Text(services))
    console.print(table)


@app.command("add")
@guarded
def add(
    last_name: Annotated[str, typer.Option("--last-name", help="Last name.")],
    first_name: Annotated[str, typer.Option("--first-name", help="First name.")],
    email: Annotated[str, typer.Option("--email", help="Contact e-mail address.")],
    phone: Annotated[str | None, typer.Option("--phone", help="Phone number.")] = None,
    mobile: Annotated[str | None, typer.Option("--mobile", help="Mobile number.")] = None,
    mailbox: MailboxOption = [],  # noqa: B006 - Typer reads the default, never mutates it
    website: WebsiteOption = [],  # noqa: B006
    ftp: FtpOption = [],  # noqa: B006
) -> None:
    """Register one customer (with a first contract if services are given) and queue the
    e-mail with the link that sets their password (the worker sends it)."""
    form = Registration(
        last_name, first_name, email, phone, mobile, tuple(services_from(mailbox, website, ftp))
    )
    with container() as c:
        done = c.registry.register(operator_actor(), form)
    contract = f", contract {done.contract_id}" if done.contract_id else ""
    link = "queued in the outbox" if done.password_link_queued else "not queued"
    console.print(
        f"registered {done.customer_id}{contract}; password link {link}, not sent yet: "
        "`entrusted worker` sends it (see `entrusted outbox list`)"
    )


def read_rows(path: Path) -> list[dict[str, str | None]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [name for name in REQUIRED if name not in header]
            unknown = [name for name in header if name not in COLUMNS]
            if missing or unknown:
                raise InvalidInput(
                    "row 1",
                    f"the header needs {', '.join(REQUIRED)} and may have {', '.join(COLUMNS[3:])}"
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
                )
            reader.fieldnames = header
            return [{k: v for k, v in row.items() if k is not None} for row in reader]
    except FileNotFoundError:
        raise InvalidInput("file", f"{path} does not exist") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput("file", f"{path} is not a UTF-8 CSV file ({exc})") from None


@app.command("import")
@guarded
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with a header: " + ", ".join(COLUMNS))],
) -> None:
    """Register every customer in a CSV file, or none: a bad row stops the import before
    anything is written, naming the row and the field. No e-mail is sent; imported customers
    ask for a password link from the portal."""
    rows = read_rows(file)
    if not rows:
        raise InvalidInput("file", f"{file} has no rows")
    with (
        container() as c,
        progress_bar() as bar,
    ):
        tasks = {
            "validated": bar.add_task("validating", total=len(rows)),
            "written": bar.add_task("writing", total=len(rows)),
        }
        ids = c.registry.import_customers(
            operator_actor(),
            rows,
            lambda stage, done, _total: bar.update(tasks[stage], completed=done),
        )
    console.print(f"imported {len(ids)} customers")


@app.command("show")
@guarded
def show(
    customer_id: Annotated[
        str, typer.Argument(help="Customer id (cus_...).", callback=id_of(IdKind.CUSTOMER))
    ],
    as_: AsOption,
    case: CaseOption = None,
    ticket: TicketOption = None,
) -> None:
    """What support sees of a caller (needs --case or --ticket): hints to identify them by,
    then name and contracts once identified."""
    context = AccessContext(case_id=case, ticket=ticket)
    with container() as c:
        view = c.registry.summary(staff_actor(c, as_), customer_id, context)
    print_caller(view)


@app.command("find")
@guarded
def find(
    as_: AsOption,
    email: Annotated[str | None, typer.Option("--email", help="The caller's e-mail.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The caller's phone.")] = None,
    case: CaseOption = None,
    ticket: TicketOption = None,
    mailbox: Annotated[
        str | None, typer.Option("--mailbox", help="A hosted mailbox address they quote.")
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="A hosted domain.")] = None,
    number: Annotated[
        str | None, typer.Option("--customer-number", help="The hoster's customer number.")
    ] = None,
) -> None:
    """Find a contract holder by the e-mail address, phone number, hosted mailbox, domain or
    customer number a caller gives (needs --case or --ticket)."""
    context = AccessContext(case_id=case, ticket=ticket)
    with container() as c:
        found = c.registry.find(
            staff_actor(c, as_), email=email, phone=phone, context=context, mailbox=mailbox,
            domain=domain, customer_number=number,
        )  # fmt: skip
    if not found:
        console.print("no customer has this e-mail address or number")
    for view in found:
        print_caller(view)


@app.command("identify")
@guarded
def identify(
    customer_id: Annotated[
        str,
        typer.Argument(
            help="Who the caller says they are (cus_...).", callback=id_of(IdKind.CUSTOMER)
        ),
    ],
    as_: AsOption,
    method: Annotated[
        str, typer.Option("--method", help="email_code, sms_code or session.")
    ] = "email_code",
    contract: Annotated[
        str | None, typer.Option(
            "--contract",
            help="The contract the call is about.",
            callback=id_of(IdKind.CONTRACT),
        )
    ] = None,
    case: CaseOption = None,
) -> None:
    """Send a one-time code to the e-mail or mobile on file (or await the customer's session)."""
    with container() as c:
        started = c.identification.start(
            staff_actor(c, as_), customer_id, method, contract_id=contract, case_id=case
        )
    console.print(
        f"identification {started.id}: {started.method.value}, "
        f"expires {started.expires_at:%H:%M} UTC; "
        f"then: entrusted customers verify {started.id} CODE --as {as_}",
        highlight=False,
    )


@app.command("verify")
@guarded
def verify(
    identification_id: Annotated[
        str,
        typer.Argument(
            help="The identification (idn_...).", callback=id_of(IdKind.IDENTIFICATION)
        ),
    ],
    code: Annotated[str, typer.Argument(help="The code the caller reads back.")],
    as_: AsOption,
) -> None:
    """Check the code the caller reads back; the outcome is recorded and ledgered."""
    with container() as c:
        done = c.identification.verify(staff_actor(c, as_), identification_id, code)
    console.print(f"caller identified as {done.customer_id} ({done.method.value})")


@app.command("export")
@guarded
def export(as_: AsOption) -> None:
    """There is no bulk export of customers (P4): the attempt is refused and ledgered."""
    with container() as c:
        c.registry.export_all(staff_actor(c, as_))
