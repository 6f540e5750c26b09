"""The demo's gate step: the same requests the policy speaks about, decided and ledgered, and
two requests that are not what they claim (a role its holder does not hold, an id with a
control character), refused before any rule is asked and ledgered all the same."""

from __future__ import annotations

from faker import Faker

from entrusted.bootstrap import Container
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind, Role
from entrusted.entrypoints.cli.context import console
from entrusted.errors import InvalidInput, Refused
from entrusted.services.gate import INVALID_RULE, AccessContext


def gate_step(c: Container, fake: Faker) -> None:
    members = {m.username.split(".")[1]: m for m in c.staff.list_members()}

    def actor(key: str) -> Actor:
        m = members[key]
        return Actor(ActorKind.STAFF, m.id, m.roles)

    customer = f"cus_{fake.hexify('^' * 16)}"  # the shape `domain.ids` accepts
    asks = [
        (
            actor("support"),
            Action.LIST_METADATA,
            Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", customer),
        ),
        (actor("support"), Action.READ, Resource(ResourceKind.MAILBOX_CONTENT, "mbx_1", customer)),
        # Asking is not restoring: the backups step below takes and restores real ones.
        (actor("sysadmin"), Action.LIST, Resource(ResourceKind.BACKUP, "all-backups", customer)),
        (actor("support"), Action.LIST, Resource(ResourceKind.BACKUP, "all-backups", customer)),
        (
            actor("legal"),
            Action.DISCLOSE,
            Resource(ResourceKind.PERSONAL_DETAILS, customer, customer),
        ),
        (actor("office"), Action.READ, Resource(ResourceKind.PERSONAL_DETAILS, customer, customer)),
        (
            Actor(ActorKind.CUSTOMER, customer),
            Action.READ,
            Resource(ResourceKind.MAILBOX_CONTENT, "mbx_1", customer),
        ),
    ]
    for who, action, resource in asks:
        label = ", ".join(sorted(r.value for r in who.roles)) or who.kind.value
        try:
            audited = c.gate.decide(who, action, resource, AccessContext(case_id="case_demo"))
            rule, index = audited.decision.rule_id, audited.receipt.index
            verdict = f"[green]allowed[/green] (rule {rule}; ledger #{index})"
        except Refused as refused:
            verdict = f"[red]refused[/red]: {refused.decision.reason}"
        console.print(f"  {label:<10} {action.value:<14} {resource.kind.value:<17} {verdict}")
    forged = [
        (
            f"{members['support'].username} (support) claiming the sysadmin role",
            Actor(ActorKind.STAFF, members["support"].id, frozenset({Role.SYSADMIN})),
            Resource(ResourceKind.BACKUP, "all-backups", customer),
        ),
        (
            "a mailbox id with a control character",
            actor("support"),
            Resource(ResourceKind.MAILBOX_METADATA, "mbx_1\x1b[2J", customer),
        ),
    ]
    for label, who, resource in forged:
        try:
            c.gate.decide(who, Action.LIST, resource, AccessContext(case_id="case_demo"))
            verdict = "[red]allowed: the gate failed to check the request[/red]"
        except InvalidInput as refused:
            index = c.ledger_store.size - 1
            verdict = f"[red]refused[/red] ({INVALID_RULE}; ledger #{index}): {refused.message}"
        console.print(f"  {label}: {verdict}")
    console.print(
        "  every line above, allowed or refused, is a ledger entry; "
        f"the ledger now holds {c.ledger_store.size} entries",
    )
