"""The demo's evidence step (issue 19): the report over today's demo, as legal reads it:
its red flags first (a demo has no test run on record, which is itself a flag), then a few
live figures, each counted from the ledger up to a signed checkpoint."""

from __future__ import annotations

from datetime import timedelta

from faker import Faker

from entrusted.bootstrap import Container
from entrusted.bootstrap.evidence import build_evidence
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console

SHOWN = (
    "P3.entries",
    "P3.refusals",
    "P11.grants_opened",
    "P11.ended_by_resolution",
    "P11.access_without_grant",
    "P16.backups_made",
    "P16.overdue",
    "P5.disclosed_under_order",
)


def evidence_step(c: Container, fake: Faker) -> None:  # noqa: ARG001 - steps' signature
    legal = next(m for m in c.staff.list_members() if m.username.endswith(".legal"))
    today = c.clock().date()
    report = build_evidence(c).report_for(
        Actor(ActorKind.STAFF, legal.id, legal.roles), today, today + timedelta(days=1)
    )
    cp = report.checkpoint
    console.print(
        f"  legal's report for {today}: counted over entries [0, {cp.size}) of checkpoint "
        f"{cp.root_hash[:16]}...; {len(report.red_flags)} red flags",
        highlight=False,
    )
    for flag in report.red_flags[:4]:
        console.print(f"  [red]{flag.promise} {flag.kind}[/red]: {flag.detail}", highlight=False)
    figures = {f.key: f for f in report.figures()}
    for key in SHOWN:
        f = figures[key]
        console.print(f"  {key:<28} {f.value:>6}  {f.label}", highlight=False, markup=False)
    console.print(
        "  `entrusted evidence --from DAY --to DAY --format html` writes the whole report",
        highlight=False,
        markup=False,
    )
