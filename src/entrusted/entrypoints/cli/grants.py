"""`entrusted grants ...`: consent grants (P11). `expire` runs the worker's `grants.expire` job
once, as the operator at this console: unanswered access requests lapse and grants past their
backstop end (the gate refuses them already; this records it and tells the customer)."""

from __future__ import annotations

import typer

from entrusted.entrypoints.cli.context import console, container, guarded, operator_actor

app = typer.Typer(help="Consent grants: the expiry job.", no_args_is_help=True)


@app.command("expire")
@guarded
def expire() -> None:
    """Lapse unanswered access requests and end grants past their backstop (the worker's job)."""
    with container() as c:
        console.print(str(c.consent.expire(operator_actor())))
