"""The evidence report as text: JSON (what `evidence verify` reads), Markdown and HTML.

The HTML is one self-contained file: inline CSS, inline SVG charts, no script, no network.
Red flags come first, in red. Each figure names the ledger query that produced it and the
checkpoint (size and root) it was counted against, so a reader can recompute it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from enum import StrEnum
from html import escape

from entrusted.domain.evidence import EvidenceReport, Figure, PromiseEvidence
from entrusted.services.evidence_svg import access_chart, backup_chart


class ReportFormat(StrEnum):
    MD = "md"
    JSON = "json"
    HTML = "html"


def render(report: EvidenceReport, fmt: ReportFormat) -> str:
    if fmt is ReportFormat.JSON:
        return json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n"
    if fmt is ReportFormat.MD:
        return markdown(report)
    return html(report)


def _day(report: EvidenceReport) -> tuple[str, str]:
    return report.period_from.date().isoformat(), report.period_to.date().isoformat()


def _source(fig: Figure, report: EvidenceReport) -> str:
    cp = report.checkpoint
    if fig.query is None:
        return f"database at report time; {fig.note}" if fig.note else "database at report time"
    counted = f"{fig.query.describe()}; over entries [0, {cp.size}) of checkpoint {cp.root_hash}"
    return f"{counted}; {fig.note}" if fig.note else counted


def _tests_line(p: PromiseEvidence) -> str:
    t = p.tests
    return f"{len(t.passed)} passed, {len(t.failed)} failed, {len(t.missing)} missing"


def markdown(report: EvidenceReport) -> str:
    start, end = _day(report)
    cp, run = report.checkpoint, report.test_run
    out = [
        "# Evidence that the promises are kept",
        "",
        f"Period {start} to {end} (end exclusive), generated {report.generated.isoformat()}.",
        f"Ledger figures are counted over entries [0, {cp.size}) of the checkpoint with root "
        f"`{cp.root_hash}`.",
        "Test run: "
        + (
            "none on record"
            if run is None
            else f"{run.run_id} ({run.finished.isoformat()}, commit {run.commit or 'unknown'}): "
            f"{run.passed} passed, {run.failed} failed, {run.skipped} skipped"
        ),
        "",
        f"_{report.test_label()}_",
        "",
        f"## Red flags ({len(report.red_flags)})",
        "",
    ]
    out += [
        f"- **{f.promise}** {f.kind}: {f.detail} (look at: {f.look_at})" for f in report.red_flags
    ]
    if not report.red_flags:
        out.append("None.")
    for p in report.promises:
        mark = " (RED)" if p.red else ""
        out += ["", f"## {p.id}{mark}: {p.text}", ""]
        out.append(f"- Rules: {', '.join(p.rules) or 'none'}")
        invariants = ", ".join(f"{i} {'holds' if ok else 'FAILS'}" for i, ok in p.invariants)
        out.append(f"- Invariants: {invariants or 'none'}")
        out.append(f"- Tests: {_tests_line(p)}")
        out += ["", "| figure | value | how it was counted |", "|---|---:|---|"]
        out += [f"| {f.label} (`{f.key}`) | {f.value} | {_source(f, report)} |" for f in p.figures]
    out += ["", "## Checkpoint", "", "```", cp.note.rstrip("\n"), "```", ""]
    return "\n".join(out)


FAILS = '<strong class="red">FAILS</strong>'
RED_MARK = ' <span class="red">(red)</span>'
_CSS = """
body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
.red{color:#b71c1c}.flags li{color:#b71c1c;margin:.3rem 0}
section.promise{border-left:4px solid #3b6ea5;padding-left:.8rem}
section.promise.flagged{border-left-color:#c62828}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #ddd;padding:.25rem .4rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.q{color:#555;font-size:.8rem}pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}
"""

# The HTML's content security policy: nothing but its one inline stylesheet, named by hash
# (CSP3 `'sha256-...'`), so a server can serve it under a policy as strict as its others.
CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode("ascii")
    + "'; frame-ancestors 'none'"
)


def html(report: EvidenceReport) -> str:
    start, end = _day(report)
    cp, run = report.checkpoint, report.test_run
    e = escape
    parts = [
        "<!DOCTYPE html>",
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>',
        f"<title>Evidence {e(start)} to {e(end)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Evidence that the promises are kept</h1>",
        f"<p>Period {e(start)} to {e(end)} (end exclusive), generated "
        f"{e(report.generated.isoformat())}. Ledger figures are counted over entries "
        f"[0, {cp.size}) of the checkpoint with root <code>{e(cp.root_hash)}</code>.</p>",
        "<p>Test run: "
        + (
            '<span class="red">none on record</span>'
            if run is None
            else f"{e(run.run_id)} ({e(run.finished.isoformat())}, commit "
            f"{e(run.commit or 'unknown')}): {run.passed} passed, {run.failed} failed, "
            f"{run.skipped} skipped"
        )
        + "</p>",
        f'<p class="q">{e(report.test_label())}</p>',
        f'<h2 class="{"red" if report.red_flags else ""}">Red flags ({len(report.red_flags)})</h2>',
    ]
    if report.red_flags:
        parts.append('<ul class="flags">')
        parts += [
            f"<li><strong>{e(f.promise)}</strong> {e(f.kind)}: {e(f.detail)} "
            f"<span class='q'>look at: {e(f.look_at)}</span></li>"
            for f in report.red_flags
        ]
        parts.append("</ul>")
    else:
        parts.append("<p>None.</p>")
    parts += [
        "<h2>Staff accesses per day</h2>",
        access_chart(report.daily_access),
        "<h2>Backups against the retention line</h2>",
        backup_chart(report.backup_ages, report.retention_days),
    ]
    parts += [_promise_html(p, report) for p in report.promises]
    parts += ["<h2>Checkpoint</h2>", f"<pre>{e(cp.note)}</pre>", "</body></html>", ""]
    return "\n".join(parts)


def _promise_html(p: PromiseEvidence, report: EvidenceReport) -> str:
    e = escape
    invariants = ", ".join(f"{e(i)} {'holds' if ok else FAILS}" for i, ok in p.invariants)
    rows = "".join(
        f"<tr><td>{e(f.label)}<br/><span class='q'>{e(f.key)}</span></td>"
        f"<td class='n'>{f.value}</td><td class='q'>{e(_source(f, report))}</td></tr>"
        for f in p.figures
    )
    tests = p.tests
    failing = "".join(f"<li class='red'>failed: {e(t)}</li>" for t in tests.failed)
    missing = "".join(f"<li class='red'>missing: {e(t)}</li>" for t in tests.missing)
    red = " flagged" if p.red else ""
    return (
        f'<section class="promise{red}" id="{e(p.id)}">'
        f"<h2>{e(p.id)}{RED_MARK if p.red else ''}: {e(p.text)}</h2>"
        f"<p>Rules: {e(', '.join(p.rules)) or 'none'}</p>"
        f"<p>Invariants: {invariants or 'none'}</p>"
        f"<p>Tests: {e(_tests_line(p))}</p>"
        + (f"<ul>{failing}{missing}</ul>" if failing or missing else "")
        + "<table><tr><th>figure</th><th>value</th><th>how it was counted</th></tr>"
        f"{rows}</table></section>"
    )
