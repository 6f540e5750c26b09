"""Mailings: a terms-amendment mailing sent to N customers (20,000 by default) through the real
SMTP adapter, against a bare smtplib loop sending the same messages to the same sink.

On one fresh installation (a temp SQLite file, or a private schema on the PostgreSQL server
given by URL, dropped afterwards), N fake customers (example.com addresses) are imported; a
communications staff member composes a `terms_amendment` mailing (the audience: every active
customer) and sends it through `MailingSender` with `SmtpMailer` to a counting aiosmtpd sink
on 127.0.0.1, run in its own process. Timed: the whole send, i.e. the gate's decision (with
the own-customer check of every recipient), claiming batches, opening each customer's e-mail
address, composing each message, the SMTP dialogue and recording every delivery.

The floor, in the same run: the same messages, composed beforehand, sent by a bare smtplib
loop over one connection to the same sink (`smtp_sink_floor_per_s`). The target is
`vs_floor` >= 0.7 with every delivery recorded (`recorded` == `recipients`).
"""

from __future__ import annotations

import runpy
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from entrusted.adapters.db.mailing_store import SqlCustomerAudience, SqlMailingStore
from entrusted.adapters.smtp import SmtpMailer, compose
from entrusted.bootstrap import scratch_installation
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.services.mailing_send import MailingSender
from entrusted.services.mailings import MailingDraft

OPERATOR = Actor(ActorKind.SERVICE, "cli:bench@localhost")
_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # the same run's floors
SENDER = "Example Hosting <notices@example.com>"
BODY = (
    "We have amended our terms. What changed: section 4 now names the data centres we use.\n"
    "The new version takes effect on 2027-01-01; the text is public at /privacy.\n"
)


def _rows(count: int) -> list[dict[str, str | None]]:
    return [
        {"last_name": "Muster", "first_name": f"Kunde{i}", "email": f"customer{i}@example.com",
         "phone": None, "mobile": None}
        for i in range(count)
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    """The counting sink process (`_smtp_sink.py`)."""

    def __init__(self) -> None:
        self.port = _free_port()
        script = Path(__file__).with_name("_smtp_sink.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def count(self) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def _bare_loop(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Messages per second of a bare smtplib loop over one connection."""
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="localhost", timeout=30)
    t0 = time.perf_counter()
    for to, data in messages:
        smtp.sendmail("notices@example.com", [to], data)
    elapsed = time.perf_counter() - t0
    smtp.quit()
    return len(messages) / elapsed


def run(
    database_url: str | None = None, quick: bool = False, recipients: int | None = None
) -> dict[str, Any]:
    count = recipients or (500 if quick else 20_000)
    sink = Sink()
    try:
        with scratch_installation(database_url) as c:
            c.ledger.start()
            c.registry.import_customers(OPERATOR, _rows(count))
            member = c.staff.add("bench.comms", "Bench Comms", ["communications"], "bench-pw-123")
            clerk = Actor(ActorKind.STAFF, member.id, frozenset({Role.COMMUNICATIONS}))
            t0 = time.perf_counter()
            draft = MailingDraft("terms_amendment", "Our terms change on 2027-01-01", BODY)
            mailing = c.mailings.compose.compose(clerk, draft)
            compose_s = time.perf_counter() - t0
            sender = MailingSender(
                c.gate,
                SqlMailingStore(c.engine),
                SqlCustomerAudience(c.engine),
                c.registry_keys,
                SmtpMailer("127.0.0.1", sink.port, False, None, None, SENDER, 30.0),
                c.clock,
                SENDER,
                "https://hosting.example.com/v1/mailings/unsubscribe",
            )
            t1 = time.perf_counter()
            report = sender.send(clerk, mailing.id)
            send_s = time.perf_counter() - t1
            received = sink.count()
            # The floor: the same messages (same headers and body), composed beforehand.
            feedback = f"{mailing.id}:terms_amendment:mailing:example.com"
            headers = {"Auto-Submitted": "auto-generated", "Feedback-ID": feedback}
            messages = [
                (to, compose(SENDER, "example.com", to, mailing.subject, BODY, headers,
                             MailPurpose.TERMS_AMENDMENT).as_bytes())
                for to in (f"customer{i}@example.com" for i in range(count))
            ]  # fmt: skip
            floor = _bare_loop(sink.port, messages)
            backend = c.engine.dialect.name
    finally:
        sink.close()
    rate = report.progress.total / send_s
    return {
        "backend": backend,
        "recipients": count,
        "messages_per_s": round(rate, 1),
        "smtp_sink_floor_per_s": round(floor, 1),
        "vs_floor": round(rate / floor, 3),
        "recorded": report.progress.sent,
        "sink_received": received,
        "compose_s": round(compose_s, 2),
        "send_s": round(send_s, 2),
        **_floors["floors"](database_url, quick),
    }
