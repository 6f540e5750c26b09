"""`entrusted outbox ...`: the notices queued for customers (domain/outbox.py), so a failure
to deliver is visible, not silent. A notice holds ids only, never an address or a text, so
listing them shows the operator nothing personal."""

from __future__ import annotations

from typing import Annotated

import typer

from entrusted.domain.outbox import OutboxStatus
from entrusted.entrypoints.cli.context import console, container, guarded

app = typer.Typer(
    help="Notices queued for customers: list them, deliver the due ones.", no_args_is_help=True
)


@app.command("list")
@guarded
def list_(
    status: Annotated[
        OutboxStatus | None,
        typer.Option("--status", help="Only notices in this state (default: all)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many.")] = 50,
) -> None:
    """List queued notices, newest first, with their state, attempts and last error."""
    with container() as c:
        counts = c.outbox.counts()
        found = c.outbox.list(status, limit)
    console.print(
        "  ".join(f"{s.value}: {n}" for s, n in counts.items()), highlight=False, soft_wrap=True
    )
    for m in found:
        due = f" next {m.next_attempt_at:%Y-%m-%d %H:%M:%S}" if m.next_attempt_at else ""
        error = f"  last error: {m.last_error}" if m.last_error else ""
        console.print(
            f"{m.id}  {m.status.value:<7} {m.topic.value:<30} {m.ref}  "
            f"queued {m.created_at:%Y-%m-%d %H:%M:%S}  attempts {m.attempts}{due}{error}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
@guarded
def deliver() -> None:
    """Deliver the notices that are due now (what the worker's outbox.deliver job does)."""
    with container() as c:
        c.require_transports()
        console.print(str(c.outbox.deliver()))
