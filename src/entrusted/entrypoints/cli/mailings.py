"""`entrusted mailings ...`: the communications role composes a mailing with one purpose,
sends (or resumes) it with a progress bar, and follows its counts and failures (P6, P7).
Each command acts as a staff member (`--as USERNAME`), proven by their credential."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Annotated

import typer

from entrusted.entrypoints.cli.context import (
    console,
    container,
    guarded,
    progress_bar,
    staff_actor,
)
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.mailings import MailingDraft

app = typer.Typer(
    help="Purpose-limited mailings to our own customers: compose, send, follow (P6, P7).",
    no_args_is_help=True,
)

AsOption = Annotated[
    str, typer.Option("--as", help="The communications staff member (username) acting.")
]
IdArgument = Annotated[str, typer.Argument(help="The mailing's id (mlg_…).")]


@app.command("compose")
@guarded
def compose(
    username: AsOption,
    purpose: Annotated[
        str, typer.Option("--purpose", help="incident, new_service or terms_amendment.")
    ],
    subject: Annotated[str, typer.Option("--subject", help="One line.")],
    body_file: Annotated[
        Path, typer.Option("--body-file", help="A UTF-8 text file holding the message body.")
    ],
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="A service the incident affects (repeat for more)."),
    ] = None,
    recipient: Annotated[
        list[str] | None,
        typer.Option("--recipient", help="Narrow the audience to this customer (repeatable)."),
    ] = None,
) -> None:
    """Compose a mailing: its recipients follow from its purpose; nothing is sent yet."""
    try:
        body = body_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("--body-file", f"cannot read {body_file}: {exc}") from None
    draft = MailingDraft(
        purpose, subject, body, tuple(service or ()), tuple(recipient) if recipient else None
    )
    with container() as c:
        mailing = c.mailings.compose.compose(staff_actor(c, username), draft)
    console.print(
        f"{mailing.id}  {mailing.purpose.value}  {mailing.recipients} recipients  composed",
        highlight=False,
    )


@app.command("send")
@guarded
def send(mailing_id: IdArgument, username: AsOption) -> None:
    """Send a mailing, or resume one a relay interrupted; nobody is mailed twice."""
    with (
        container() as c,
        progress_bar("mailing") as bar,
    ):
        actor = staff_actor(c, username)
        task = bar.add_task("recipients", total=None)
        report = c.mailings.sender.send(
            actor,
            mailing_id,
            lambda p: bar.update(task, completed=p.sent + p.refused, total=p.total),
        )
    p = report.progress
    console.print(
        f"{report.mailing_id}: {p.sent} sent, {p.refused} refused, {p.pending} pending, "
        f"{p.unknown} unknown of {p.total}",
        highlight=False,
    )
    for d in report.problems:
        console.print(f"  {d.customer_id}  {d.status.value}  {_safe(d.error or '')}",
                      highlight=False, markup=False)  # fmt: skip
    if report.stopped:
        raise Unavailable(
            f"{_safe(report.stopped)}; run `entrusted mailings send {mailing_id}` again"
        )
    if p.pending:
        raise Unavailable(
            f"{p.pending} deliveries still pending; run `entrusted mailings send {mailing_id}` "
            "again"
        )
    if p.unknown:
        raise Unavailable(
            f"{p.unknown} deliveries unknown (a run died while sending them); they are not "
            "sent again: check the relay's log"
        )


@app.command("show")
@guarded
def show(mailing_id: IdArgument, username: AsOption) -> None:
    """A mailing's purpose, status, counts and failures (customer ids, never addresses)."""
    with container() as c:
        view = c.mailings.compose.view(staff_actor(c, username), mailing_id)
    m, p = view.mailing, view.progress
    console.print(
        f"{m.id}  {m.purpose.value}  {m.status.value}  {_safe(m.subject)}",
        highlight=False,
        markup=False,
    )
    console.print(
        f"{p.sent} sent, {p.refused} refused, {p.pending} pending, {p.unknown} unknown "
        f"of {p.total}",
        highlight=False,
    )
    for d in view.problems:
        console.print(f"  {d.customer_id}  {d.status.value}  {_safe(d.error or '')}",
                      highlight=False, markup=False)  # fmt: skip


def _safe(text: str) -> str:
    """Text fit for a terminal: control, format and separator characters (an ESC sequence,
    a bidi override, a line break) shown as escapes, never acted on."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}
        else ch
        for ch in text
    )


@app.command("list")
@guarded
def list_(username: AsOption) -> None:
    """The most recent mailings and their counts."""
    with container() as c:
        found = c.mailings.compose.recent(staff_actor(c, username))
    for m, p in found:
        console.print(
            f"{m.id}  {m.purpose.value:15}  {m.status.value:10}  {p.sent}/{p.total} sent",
            highlight=False,
        )
