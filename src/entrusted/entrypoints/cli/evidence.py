"""`entrusted evidence`: the proof-of-promises report (issue 19), and its verification.

`entrusted evidence --from DATE --to DATE --format html|md|json [--out FILE]` makes the report
(the default command of this app). Run by the machine's operator it reads the database like
`ledger export` does, and ledgers that the report was made; `--as USERNAME` makes it as a
staff member instead, which the rules allow for legal only and which is ledgered.
Sub-commands (`verify`) are added to the same `app` below the report command.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    operator_actor,
    staff_actor,
)
from entrusted.errors import InvalidInput

app = typer.Typer(
    help="The evidence report: promise by promise, the machine evidence that each is kept.",
)


def _date(value: str | None, option: str) -> date:
    if value is None:
        raise InvalidInput(option, "a date is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(option, f"{value!r} is not a date (YYYY-MM-DD)") from None


@app.callback(invoke_without_command=True)
@guarded
def report(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="First day of the period (YYYY-MM-DD, UTC).")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Day after the last one of the period (YYYY-MM-DD, UTC)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, md or json.")] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report here, not to stdout.")
    ] = None,
    username: Annotated[
        str | None,
        typer.Option("--as", help="Make it as this staff member (legal), ledgered."),
    ] = None,
) -> None:
    """Make the evidence report of P1..P17 for a period: red flags first, then per promise
    its rules, invariants, tests and live figures, each naming the ledger query and the
    checkpoint it was computed against."""
    if ctx.invoked_subcommand is not None:
        return
    from entrusted.bootstrap.evidence import build_evidence
    from entrusted.services.evidence import period
    from entrusted.services.evidence_render import ReportFormat, render

    first, after = _date(start, "--from"), _date(end, "--to")
    period(first, after)  # a bad period is refused before anything is read or written
    try:
        kind = ReportFormat(fmt)
    except ValueError:
        raise InvalidInput("--format", f"{fmt!r} is not one of html, md, json") from None
    with container() as c:
        evidence = build_evidence(c)
        if username is None:
            made = evidence.report(first, after, operator_actor())
        else:
            made = evidence.report_for(staff_actor(c, username), first, after)
    text = render(made, kind)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(
        f"wrote {out}: {len(made.red_flags)} red flags, "
        f"{sum(1 for _ in made.figures())} figures at checkpoint size {made.checkpoint.size}",
        highlight=False,
        soft_wrap=True,
    )


# --- `entrusted evidence verify` (recomputes a report's figures) goes below this line --------

MAX_REPORT_BYTES = 64 << 20  # a report is a few hundred kilobytes; anything this big is not one


def _text_file(path: Path, what: str, limit: int) -> str:
    try:
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise InvalidInput(what, f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > limit:
        raise InvalidInput(what, f"{path} is larger than {limit} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(what, f"{path} is not UTF-8 text") from None


@app.command("verify")
@guarded
def verify(
    file: Annotated[
        Path, typer.Argument(help="The report to check (made with --format json).", dir_okay=False)
    ],
    against: Annotated[
        str,
        typer.Option("--against", help="The log's tiles URL, e.g. https://HOST/v1/ledger."),
    ],
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding a bearer token the log lets read its entries (e.g. legal's).",
            dir_okay=False,
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The log's verifier key or key list (vkey or .pub file); default: the key "
            "list the log serves.",
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="The rules file deployed on the log's host (the figures citing each promise "
            "are rebuilt with it); default: the shipped rules.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Recompute every ledger figure of a report from the published log.

    Checks the report's checkpoint signature, proves today's log extends it, fetches the entry
    bundles up to it (they must hash to its root), rebuilds the figures the report must carry
    for its period (keys, labels, queries: never taken from the report) and recounts each,
    with the must-be-zero red flags and the daily-access chart. Exits 0 when all match; 9
    naming each figure or flag that does not (or on any failed proof). What the log cannot
    confirm (database figures, test results, other red flags) is listed as NOT verified.
    A token is sent only over https:// or to loopback (exit 2 otherwise).
    """
    import json

    from rich.markup import escape

    from entrusted.bootstrap.evidence_verify import published_log, verifier_rules
    from entrusted.domain.evidence import EvidenceReport
    from entrusted.errors import TamperDetected
    from entrusted.services.evidence_verify import figure_line, verify_report

    try:
        made = EvidenceReport.from_json(json.loads(_text_file(file, "report", MAX_REPORT_BYTES)))
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("report", f"{file} is not an evidence report: {exc}") from None
    token = None
    if token_file is not None:
        token = _text_file(token_file, "token-file", 4096).strip() or None
    vkeys = None
    if key is not None:
        path = Path(key)
        vkeys = _text_file(path, "key", 64 * 1024) if path.is_file() else key
    ruleset = verifier_rules(rules)
    with published_log(against, token) as log:
        outcome = verify_report(made, log, vkeys, ruleset)
    for check in outcome.checks:
        style = "" if check.matches else "[red]"
        console.print(style + escape(figure_line(check)), highlight=False, soft_wrap=True)
    for problem in outcome.problems:
        console.print("[red]" + escape(problem), highlight=False, soft_wrap=True)
    for part in outcome.unverified:
        console.print("NOT verified: " + escape(part), highlight=False, soft_wrap=True)
    trusted = "the key list the log serves" if outcome.key_served else "the key given"
    summary = (
        f"checkpoint size {outcome.size} verified with {trusted}; the log today (size "
        f"{outcome.log_size}) extends it; figures rebuilt with the rules {ruleset.source} "
        f"(sha256 {ruleset.sha256[:16]})"
    )
    if outcome.failed:
        named = ", ".join(c.key for c in outcome.mismatches) or "none"
        more = f"; {len(outcome.problems)} other differences" if outcome.problems else ""
        raise TamperDetected(f"{summary}; figures that do not match the log: {named}{more}")
    recounted = len(outcome.checks) - len(outcome.not_recomputable)
    console.print(
        f"{summary}; all {recounted} ledger figures match, "
        f"{len(outcome.not_recomputable)} database figures not recomputable from the log",
        highlight=False,
        soft_wrap=True,
    )
