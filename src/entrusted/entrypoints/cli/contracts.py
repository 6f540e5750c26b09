"""`entrusted contracts ...`: open, show, cancel and transfer contracts (P1).

Showing, cancelling and transferring act as a staff member (`--as`), and the rules let
support do them only for a holder they identified within the hour
(`entrusted customers identify` / `verify`). A transfer to a new holder: register them with
`entrusted customers add` first, then transfer to their id.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from entrusted.domain.ids import IdKind
from entrusted.domain.registry import ContractView
from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    operator_actor,
    staff_actor,
)
from entrusted.entrypoints.cli.customers import (
    AsOption,
    CaseOption,
    FtpOption,
    MailboxOption,
    WebsiteOption,
    services_from,
)
from entrusted.entrypoints.cli.ids import id_of
from entrusted.services.gate import AccessContext

app = typer.Typer(help="Open, show, cancel and transfer contracts.", no_args_is_help=True)


def print_contract(view: ContractView) -> None:
    cancelled = f", cancelled {view.cancelled_at:%Y-%m-%d}" if view.cancelled_at else ""
    console.print(
        f"{view.id}  holder {view.holder_id}  {view.status.value} since "
        f"{view.created_at:%Y-%m-%d}{cancelled}",
        highlight=False,
    )
    for s in view.services:
        console.print(Text(f"  {s.kind.value:<10} {s.name}"))


ContractArg = Annotated[
    str, typer.Argument(help="Contract id (ctr_...).", callback=id_of(IdKind.CONTRACT))
]


@app.command("open")
@guarded
def open_(
    customer_id: Annotated[
        str, typer.Argument(help="The holder (cus_...).", callback=id_of(IdKind.CUSTOMER))
    ],
    mailbox: MailboxOption = [],  # noqa: B006 - Typer reads the default, never mutates it
    website: WebsiteOption = [],  # noqa: B006
    ftp: FtpOption = [],  # noqa: B006
) -> None:
    """Open a contract with its hosted services, as the operator at this console."""
    with container() as c:
        view = c.contracts.open(operator_actor(), customer_id, services_from(mailbox, website, ftp))
    print_contract(view)


@app.command("show")
@guarded
def show(
    contract_id: ContractArg,
    as_: AsOption,
    case: CaseOption = None,
) -> None:
    """Show a contract and its services (support: once the holder is identified)."""
    with container() as c:
        view = c.contracts.get(staff_actor(c, as_), contract_id, AccessContext(case_id=case))
    print_contract(view)


@app.command("cancel")
@guarded
def cancel(
    contract_id: ContractArg,
    as_: AsOption,
    case: CaseOption = None,
) -> None:
    """Cancel a contract at its identified holder's request; the date is recorded."""
    with container() as c:
        view = c.contracts.cancel(staff_actor(c, as_), contract_id, AccessContext(case_id=case))
    print_contract(view)


@app.command("transfer")
@guarded
def transfer(
    contract_id: ContractArg,
    to: Annotated[
        str,
        typer.Option(
            "--to", help="The new holder's customer id.", callback=id_of(IdKind.CUSTOMER)
        ),
    ],
    as_: AsOption,
    case: CaseOption = None,
) -> None:
    """Hand a contract to another customer: the old holder loses every right on it at once."""
    with container() as c:
        done = c.contracts.transfer(
            staff_actor(c, as_), contract_id, to_customer=to, context=AccessContext(case_id=case)
        )
    t = done.transfer
    console.print(
        f"transferred {t.contract_id} from {t.from_customer} to {t.to_customer} "
        f"({t.id}, decision ledger #{t.ledger_index}, handover ledger #{done.handover_index})",
        highlight=False,
    )
