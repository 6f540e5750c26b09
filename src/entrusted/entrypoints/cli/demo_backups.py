"""The demo's backup step (P15, P16): a real run over what the earlier steps hosted (the
generated Maildir, the FTP space, each record), a sysadmin's restore for an incident, support
refused, and the dates on which each day's key will be destroyed."""

from __future__ import annotations

from faker import Faker

from entrusted.bootstrap import Container, console_operator
from entrusted.domain.backups import Source
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console
from entrusted.errors import Refused


def _staff(c: Container, role: str) -> Actor:
    m = next(m for m in c.staff.list_members() if m.username.endswith(f".{role}"))
    return Actor(ActorKind.STAFF, m.id, m.roles)


def backups_step(c: Container, fake: Faker) -> None:  # noqa: ARG001 - the steps' signature
    report = c.backups.runner.run(console_operator())
    console.print(f"  backups run: {report}", highlight=False)
    admin = _staff(c, "sysadmin")
    archives = c.backups.access.archives(admin)
    hosted = [a for a in archives if a.source is not Source.RECORD] or archives
    chosen = hosted[-1]
    done = c.backups.access.restore(admin, chosen.id, f"demo-{chosen.id}", incident="INC-DEMO-1")
    console.print(
        f"  sysadmin restored {chosen.source.value} backup {chosen.id} for incident INC-DEMO-1: "
        f"{done.files} files into {done.target} ({done.chunks} chunks authenticated)",
        highlight=False,
    )
    try:
        c.backups.access.archives(_staff(c, "support"))
    except Refused as refused:
        console.print(f"  support lists backups: [red]refused[/red]: {refused.decision.reason}")
    status = c.backups.purge.status()
    for key in status.live_days:
        console.print(
            f"  day {key.day.isoformat()}: key {key.key_id} (commitment "
            f"{key.commitment[:16]}...) is destroyed at {key.destroy_after.isoformat()}, "
            "and every archive of the day with it (`entrusted backups purge`)",
            highlight=False,
        )
