"""The demo's provisioning step (issue 17, P1, P3): the hoster's provisioning system upserts
three customers with a contract, a mailbox and an FTP space each by its own ids; the same
sync again changes nothing; a mailbox is renamed (same id) and an FTP space removed; support
trying the provisioning path is refused, in the ledger."""

from __future__ import annotations

from faker import Faker

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind, Service
from entrusted.domain.provisioning import Item, SyncReport
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_registry import _person, _staff, _try
from entrusted.services.provisioning_forms import (
    contract_item,
    customer_item,
    removal_item,
    service_item,
)
from entrusted.services.registry_forms import Registration

PROVISIONER = Actor(ActorKind.SERVICE, Service.PROVISIONING.value)


def _counts(report: SyncReport) -> str:
    return ", ".join(f"{n} {change.value}" for change, n in report.counts().items() if n)


def provisioning_step(c: Container, fake: Faker) -> None:
    p = c.provisioning
    items: list[Item] = []
    for n in range(1, 4):
        person = _person(fake, 80 + n)
        form = Registration(person.last_name, person.first_name, f"prov{n}@example.com",
                            person.phone, person.mobile)  # fmt: skip
        items += [
            customer_item(p.contacts, f"K-{n}", form),
            contract_item(f"C-{n}", f"K-{n}"),
            service_item(p.contacts, f"C-{n}", "mail", "mailbox", f"prov{n}@example.net"),
            service_item(p.contacts, f"C-{n}", "ftp", "ftp_space", f"prov{n}-backup"),
        ]
    first = p.sync(PROVISIONER, items)
    console.print(f"  provisioning synced 3 customers: {_counts(first)}", highlight=False)
    console.print(f"  the same sync again: {_counts(p.sync(PROVISIONER, items))}", highlight=False)
    renamed = p.sync(
        PROVISIONER, [service_item(p.contacts, "C-1", "mail", "mailbox", "hello@example.net")]
    ).rows[0]
    console.print(
        f"  mailbox mail of C-1 renamed: {renamed.change.value}, still {renamed.id}",
        highlight=False,
    )
    removed = p.sync(PROVISIONER, [removal_item("C-2", "ftp")]).rows[0]
    console.print(
        f"  FTP space ftp of C-2 ({removed.id}) {removed.change.value}: its grants, if any, ended",
        highlight=False,
    )
    _, support = _staff(c, "support")
    _try("support upserting a customer", lambda: p.sync(support, items[:1]))
