"""The demo's policy-document step (P17): the shipped text is version 1 and public at
`/privacy`; support may not publish (the rule says so, and the ledger records it); legal
publishes version 2, which is announced to every customer, and version 1 stays public."""

from __future__ import annotations

from faker import Faker

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.policy_document_default import DEFAULT_TEXT
from entrusted.entrypoints.cli.context import console
from entrusted.errors import Refused

# Version 2: the shipped text (every promise still stated, as a version must) with its backups
# section reworded.
_OLD_BACKUPS = DEFAULT_TEXT[
    DEFAULT_TEXT.index("## Backups") : DEFAULT_TEXT.index("## This document")
]
AMENDED = DEFAULT_TEXT.replace(
    _OLD_BACKUPS,
    """## Backups [P15, P16]

We back up everything we host. Only our system administrators can use the backups, and each
one is destroyed after seven days, whatever happens to the contract.

""",
)


def _staff(c: Container, role: str) -> Actor:
    m = next(m for m in c.staff.list_members() if m.username.endswith(f".{role}"))
    return Actor(ActorKind.STAFF, m.id, m.roles)


def policy_document_step(c: Container, fake: Faker) -> None:  # noqa: ARG001 - steps' signature
    page = c.policy_documents.current()
    v1 = page.version
    console.print(
        f"  /privacy serves version {v1.number} ({v1.title!r}, sha256 {v1.sha256[:16]}...) "
        f"beside the rules in force (sha256 {page.rules.sha256[:16]}...)",
        highlight=False,
    )
    today = c.clock().date()
    try:
        c.policy_documents.publish(_staff(c, "support"), AMENDED, today, "support's own wording")
    except Refused as refused:
        console.print(
            f"  support publishes a version: [red]refused[/red] by {refused.decision.rule_id}"
        )
    v2 = c.policy_documents.publish(_staff(c, "legal"), AMENDED, today, "backups reworded")
    console.print(
        f"  legal published version {v2.number} (in force from {v2.effective.isoformat()}); "
        "ledgered by number and sha256, announced to every customer as a terms amendment; "
        f"version {v1.number} stays at /privacy/versions/{v1.number}",
        highlight=False,
    )
