"""`entrusted policy`: prove, explain and compare the access rules (P8, P12).

These commands read a rules file and the analysis only; they touch no database, so a reviewer
can run them on a proposed rules file before it is ever deployed.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.policy import (
    NON_STAFF,
    Action,
    ActorKind,
    Condition,
    Engine,
    Principal,
    ResourceKind,
    Role,
    Service,
)
from entrusted.domain.policy_analysis import (
    check_invariants,
    diff,
    explain,
    permission_matrix,
)
from entrusted.errors import InvalidInput

app = typer.Typer(
    help="Prove, explain and compare the access rules: who may do what to which customer data.",
    no_args_is_help=True,
)

_E = TypeVar("_E", bound=StrEnum)

RulesOption = Annotated[
    Path,
    typer.Option(
        "--rules",
        help="Rules file (YAML) to analyse; defaults to the policy shipped with Entrusted.",
        show_default="the shipped policy",
        dir_okay=False,
    ),
]


def _out() -> Console:
    return Console(highlight=False)


def _fail(exc: InvalidInput) -> typer.Exit:
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {exc.message}", soft_wrap=True)
    return typer.Exit(2)


def _guard(action: Callable[[], int]) -> None:
    """Run a command body; a bad rules file or argument is one red line and exit code 2."""
    try:
        code = action()
    except InvalidInput as exc:
        raise _fail(exc) from None
    if code:
        raise typer.Exit(code)


def _parse(enum: type[_E], value: str, option: str) -> _E:
    if value not in enum._value2member_map_:
        known = ", ".join(m.value for m in enum)
        raise InvalidInput(option, f"unknown {enum.__name__} {value!r} (known: {known})")
    return enum(value)


def _principal(value: str) -> Principal:
    if value in Role._value2member_map_:
        return Role(value)
    if value in Service._value2member_map_:
        return Service(value)
    if value in ActorKind._value2member_map_ and value not in (ActorKind.STAFF, ActorKind.SERVICE):
        return ActorKind(value)
    known = ", ".join([*Role, *Service, *(k for k in NON_STAFF if k is not ActorKind.SERVICE)])
    raise InvalidInput("--as", f"unknown role or actor kind {value!r} (known: {known})")


@app.command()
def check(
    rules: RulesOption = DEFAULT_RULES_PATH,
    show_denied: Annotated[
        bool, typer.Option("--show-denied", help="Also list every denied cell of the matrix.")
    ] = False,
) -> None:
    """Print the permission matrix and prove every invariant of the rules file.

    Exits 1 when an invariant is violated, naming a counter-example and the rules behind it.
    """

    def body() -> int:
        ruleset = load_rules(rules)
        engine = Engine(ruleset.rules)
        out = _out()
        table = Table("principal", "action", "resource", "verdict", "rules",
                      title=f"permissions in {rules.name} (everything else: deny)")
        for cell in permission_matrix(engine, include_denied=show_denied):
            table.add_row(cell.principal, cell.action, cell.kind, cell.verdict,
                          ", ".join(cell.rule_ids))
        out.print(table)
        violations = check_invariants(ruleset, engine)
        failed = {v.invariant.id for v in violations}
        for inv in ruleset.invariants:
            status = "[red]VIOLATED[/red]" if inv.id in failed else "[green]holds[/green]"
            out.print(f"{status} {inv.id} ({', '.join(inv.implements)}): {inv.reason}")
        for v in violations:
            line = next((r.line for r in ruleset.rules if r.id in v.rule_ids), None)
            where = f" at {rules}:{line}" if line else ""
            out.print(f"  [red]x[/red] {v.invariant.id}: {v.message}{where}", soft_wrap=True)
        out.print(f"{len(ruleset.rules)} rules, {len(ruleset.invariants)} invariants, "
                  f"{len(violations)} violations; sha256 {ruleset.sha256}")
        return 1 if violations else 0

    _guard(body)


@app.command("explain")
def explain_command(
    principal: Annotated[
        str, typer.Option("--as", help="Role (support, sysadmin, ...), integration (signup, "
                          "mail_hook, ftp_server, worker, operator) or actor kind (customer, "
                          "third_party, public) asking.", show_default=False)
    ],
    action: Annotated[
        str, typer.Option("--action", help="Action asked for, e.g. read or restore.",
                          show_default=False)
    ],
    resource: Annotated[
        str, typer.Option("--resource", help="Resource kind, e.g. mailbox_content or backup.",
                          show_default=False)
    ],
    with_: Annotated[
        list[str] | None,
        typer.Option("--with", help="A condition that holds (repeat for several), e.g. "
                     "active_grant or court_order."),
    ] = None,
    rules: RulesOption = DEFAULT_RULES_PATH,
) -> None:
    """Show which rule decides a request, why, and every rule consulted on the way."""

    def body() -> int:
        who = _principal(principal)
        act = _parse(Action, action, "--action")
        kind = _parse(ResourceKind, resource, "--resource")
        facts = frozenset(_parse(Condition, c, "--with") for c in with_ or [])
        engine = Engine(load_rules(rules).rules)
        result = explain(engine, who, act, kind, facts)
        d = result.decision
        verdict = "[green]ALLOW[/green]" if d.allowed else "[red]DENY[/red]"
        held = ", ".join(sorted(facts)) or "none"
        out = _out()
        out.print(f"{verdict} {who} {act} {kind} (conditions holding: {held})", soft_wrap=True)
        decided_by = f"rule {d.rule_id}" if d.rule_id else "default deny"
        out.print(f"decided by {decided_by}: {d.reason}", soft_wrap=True)
        if d.obligations:
            out.print(f"obligations: {', '.join(d.obligations)}")
        if not result.consulted:
            out.print(f"no rule mentions {who} {act} {kind}")
            return 0
        table = Table("rule", "effect", "line", "matched", "why", "implements",
                      title="rules consulted (forbids first)")
        for trace in result.consulted:
            rule = trace.rule
            table.add_row(rule.id, rule.effect, str(rule.line), "yes" if trace.matched else "no",
                          trace.note, ", ".join(rule.implements))
        out.print(table)
        return 0

    _guard(body)


@app.command("diff")
def diff_command(
    old: Annotated[Path, typer.Argument(help="The rules file in force.", dir_okay=False)],
    new: Annotated[Path, typer.Argument(help="The proposed rules file.", dir_okay=False)],
) -> None:
    """List every permission the proposed rules add or remove, by meaning rather than text."""

    def body() -> int:
        changes = diff(load_rules(old).rules, load_rules(new).rules)
        out = _out()
        if not changes:
            out.print("no permission changes")
            return 0
        for change in changes:
            colour = "green" if change.change == "added" else "red"
            out.print(f"[{colour}]{change.describe()}[/{colour}]", soft_wrap=True)
        added = sum(1 for c in changes if c.change == "added")
        out.print(f"{added} added, {len(changes) - added} removed")
        return 0

    _guard(body)
