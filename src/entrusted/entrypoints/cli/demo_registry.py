"""The demo's registry step: registration by the signup site, a caller identified by a one-time
code, what support and a sysadmin each get, a refused bulk export, and a contract transfer."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from faker import Faker
from rich.markup import escape

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_messages import code_in, last_body
from entrusted.errors import EntrustedError, Refused
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import Registration, ServiceRequest

SIGNUP = Actor(ActorKind.SERVICE, "signup")


def _person(fake: Faker, n: int, services: tuple[ServiceRequest, ...] = ()) -> Registration:
    first, last = fake.first_name(), fake.last_name()
    local = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
    return Registration(
        last_name=last,
        first_name=first,
        email=f"{local.lower().replace(' ', '')}@example.com",
        phone=f"+41 44 000 00 {n:02d}",
        mobile=f"+41 79 000 00 {n:02d}",
        services=services,
    )


def _staff(c: Container, role: str) -> tuple[str, Actor]:
    m = next(m for m in c.staff.list_members() if m.username.endswith(f".{role}"))
    return m.username, Actor(ActorKind.STAFF, m.id, m.roles)


def _try(label: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Refused as refused:
        console.print(f"  {label}: [red]refused[/red] ({escape(refused.decision.reason)})")
    except EntrustedError as exc:
        console.print(f"  {label}: [red]{type(exc).__name__}[/red] ({escape(exc.message)})")


def registry_step(c: Container, fake: Faker) -> None:
    services = (
        ServiceRequest("mailbox", "info@example.org"),
        ServiceRequest("website", "www.example.org"),
    )
    first = c.registry.register(SIGNUP, _person(fake, 1, services))
    second = c.registry.register(SIGNUP, _person(fake, 2))
    console.print(
        f"  signup site registered {first.customer_id} (contract {first.contract_id}) and "
        f"{second.customer_id}; each one's password link is queued in the outbox"
    )
    support_name, support = _staff(c, "support")
    _, sysadmin = _staff(c, "sysadmin")
    started = c.identification.start(support, first.customer_id, "email_code")
    code = code_in(last_body(c, "Your identification code"))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    console.print(f"  {support_name} sent a one-time code to the e-mail on file ({started.id})")
    _try(
        "caller reads back a wrong code",
        lambda: c.identification.verify(support, started.id, wrong),
    )
    done = c.identification.verify(support, started.id, code)
    console.print(f"  caller reads back the right code: [green]{done.outcome.value}[/green]")
    ticket = AccessContext(ticket="HD-1001")  # a look-up names its case or ticket (P1)
    summary = c.registry.summary(support, first.customer_id, ticket).summary
    assert summary is not None  # identified just now, so the name and contracts show
    console.print(
        f"  support sees only: {summary.first_name} {summary.last_name}, "
        f"contracts {[k.id for k in summary.contracts]}"
    )
    _try(
        "sysadmin asks for the same summary",
        lambda: c.registry.summary(sysadmin, first.customer_id, ticket),
    )
    _try(
        "support looks the customer up without a case or ticket",
        lambda: c.registry.summary(support, first.customer_id),
    )
    _try("support tries a bulk export of the customer file", lambda: c.registry.export_all(support))
    assert first.contract_id is not None
    moved = c.contracts.transfer(support, first.contract_id, to_customer=second.customer_id)
    console.print(
        f"  support transferred {first.contract_id} to {second.customer_id} "
        f"(ledger #{moved.transfer.ledger_index})"
    )
    old_holder = Actor(ActorKind.CUSTOMER, first.customer_id)
    _try(
        "the old holder reads the contract",
        lambda: c.contracts.get(old_holder, str(first.contract_id)),
    )
    console.print(
        "  every personal field is stored encrypted under the customer's own data key; "
        "`entrusted keys status` shows the master key wrapping them"
    )
