"""The demo's consent step (P9, P10, P11): a case, an access request the holder approves with
the e-mailed link, one session under the grant (a second, and another agent, refused), verbal
consent after identification with its receipt, and resolution ending every grant."""

from __future__ import annotations

from faker import Faker
from rich.markup import escape

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_messages import code_in, last_body
from entrusted.entrypoints.cli.demo_registry import SIGNUP, _person, _staff, _try
from entrusted.services.registry_forms import ServiceRequest


def _link(c: Container) -> str:
    return last_body(c, "Support asks").split("#token=")[1].split()[0]


def consent_step(c: Container, fake: Faker) -> None:
    services = (
        ServiceRequest("mailbox", "office@example.net"),
        ServiceRequest("ftp_space", "office-backup"),
    )
    holder = c.registry.register(SIGNUP, _person(fake, 3, services))
    assert holder.contract_id is not None
    contract = c.contracts.get(Actor(ActorKind.CUSTOMER, holder.customer_id), holder.contract_id)
    ids = {s.kind.value: s.id for s in contract.services}
    name, support = _staff(c, "support")
    _, support2 = _staff(c, "support2")
    me = Actor(ActorKind.CUSTOMER, holder.customer_id)
    case = c.cases.open(support, holder.contract_id, "Mail client reports a corrupt folder")
    console.print(f"  {name} opened {case.id} for {holder.contract_id}")
    req = c.consent.request(
        support,
        case.id,
        ids["mailbox"],
        "The folder index looks corrupt; I need to look at it.",
        read_only=True,
    )
    console.print(f"  asked for read-only access ({req.id}); the holder was e-mailed a link")
    grant = c.consent.approve(me, req.id, _link(c))
    console.print(f"  the holder approved: grant {grant.id}, approved by {grant.approved_by}")
    session = c.grants.use(support, grant.id)
    console.print(f"  {name} logs in to the mailbox: [green]allowed[/green] ({session.session.id})")
    _try("another agent uses the same grant", lambda: c.grants.use(support2, grant.id))
    _try(f"{name} opens a second session", lambda: c.grants.use(support, grant.id))
    started = c.identification.start(support, holder.customer_id, "email_code", case_id=case.id)
    code = code_in(last_body(c, "Your identification code"))
    c.identification.verify(support, started.id, code)
    _try(
        "support2 records verbal consent (did not identify the caller)",
        lambda: c.verbal_consent.record(support2, case.id, ids["ftp_space"], read_back=True),
    )
    record, verbal = c.verbal_consent.record(support, case.id, ids["ftp_space"], read_back=True)
    console.print(
        f"  {name} identified the caller and recorded verbal consent {record.id} "
        f"(grant {verbal.id}); receipt sent with a one-click 'this was not me'"
    )
    c.cases.resolve(support, case.id)
    console.print(f"  {case.id} resolved: every grant on it ended; the notices were queued")
    console.print(f"  the worker's outbox job delivers them: {c.outbox.deliver()}")
    console.print("  the closing summary says:")
    for line in last_body(c, f"Case {case.id}").splitlines()[3:6]:
        console.print(f"    {escape(line)}", highlight=False)
    _try("support logs in again after resolution", lambda: c.grants.use(support, grant.id))
