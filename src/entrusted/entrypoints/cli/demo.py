"""`entrusted demo`: a fresh installation with fake data, so a newcomer sees the system work
within a minute. Every capability adds its step here."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from faker import Faker

from entrusted.bootstrap import Container, initialise
from entrusted.entrypoints.cli.context import console, container, guarded, operator, state
from entrusted.entrypoints.cli.demo_backups import backups_step
from entrusted.entrypoints.cli.demo_consent import consent_step
from entrusted.entrypoints.cli.demo_disclosures import disclosures_step
from entrusted.entrypoints.cli.demo_evidence import evidence_step
from entrusted.entrypoints.cli.demo_ftp import free_port, ftp_step
from entrusted.entrypoints.cli.demo_gate import gate_step
from entrusted.entrypoints.cli.demo_ledger import ledger_step
from entrusted.entrypoints.cli.demo_mail import mail_step
from entrusted.entrypoints.cli.demo_mailings import mailings_step
from entrusted.entrypoints.cli.demo_messages import DEMO_TRANSPORTS, mail_dir, mails
from entrusted.entrypoints.cli.demo_operations import operations_step
from entrusted.entrypoints.cli.demo_pages import pages_step
from entrusted.entrypoints.cli.demo_policy_document import policy_document_step
from entrusted.entrypoints.cli.demo_provisioning import provisioning_step
from entrusted.entrypoints.cli.demo_registry import registry_step
from entrusted.errors import InvalidInput

DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - a published demo credential on fake data
DEMO_STAFF = [
    ("support", ["support"]),
    ("support2", ["support"]),
    ("sysadmin", ["sysadmin"]),
    ("legal", ["legal"]),
    ("legal2", ["legal"]),  # the second approver of a disclosure (P5)
    ("comms", ["communications"]),
    ("office", ["other"]),
]

# Each area adds a (title, step) pair; each step prints what it shows.
DEMO_STEPS: list[tuple[str, Callable[[Container, Faker], None]]] = [
    ("the gate (P3, P8-P15): every request decided by the rules and ledgered", gate_step),
    ("the ledger (P3, P14): signed, provable, verifiable by anyone", ledger_step),
    (
        "the registry (P1, P2, P4): identification, transfer, no bulk export",
        registry_step,
    ),
    (
        "consent (P9, P10, P11): one resource, one case, one use, ended with the case",
        consent_step,
    ),
    ("mail (P13, P14): the metadata-only monitor on a generated Maildir", mail_step),
    ("the FTPS backup space (P9): the customer's own, staff only under a grant", ftp_step),
    ("backups (P15, P16): sealed archives, sysadmin-only restore, keys destroyed", backups_step),
    ("the policy document (P17): versioned, public, published by legal", policy_document_step),
    ("mailings (P6, P7): one purpose each, own customers only, resumable", mailings_step),
    ("provisioning (P1, P3): the hoster's own ids, repeatable, ids-only", provisioning_step),
    ("running it at a hoster: units, Dovecot files, sealed key backup", operations_step),
    ("the disclosure desk (P4, P5): Swiss court orders, two approvers, scoped", disclosures_step),
    ("the pages (issue 18): a customer in French, the portal and the console", pages_step),
    ("evidence (P1-P17): red flags first, then figures recomputable from the log", evidence_step),
]


def _seed_staff(c: Container, fake: Faker) -> None:
    for suffix, roles in DEMO_STAFF:
        username = f"{fake.first_name().lower()}.{suffix}"
        while any(m.username == username for m in c.staff.list_members()):
            username = f"{fake.first_name().lower()}.{suffix}"
        member = c.staff.add(username, fake.name(), roles, DEMO_PASSWORD)
        console.print(f"  staff {member.username:<24} roles: {', '.join(sorted(member.roles))}")


DEMO_MARKER = ".entrusted-demo"


def _clear_previous_demo(data_dir: Path) -> None:
    """Wipe what an earlier demo left, and nothing else: a directory that is not empty and
    carries no demo marker may be a real installation (its keys are the only way to read its
    customers' details), so the demo refuses it instead of deleting it."""
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise InvalidInput("--data-dir", f"{data_dir} exists and is not a directory")
    if any(data_dir.iterdir()) and not (data_dir / DEMO_MARKER).is_file():
        raise InvalidInput(
            "--data-dir",
            f"{data_dir} is not empty and was not made by `entrusted demo`; "
            "the demo only wipes its own directories (choose another --data-dir)",
        )
    shutil.rmtree(data_dir)


@guarded
def demo(
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir",
            help="Where the demo installation lives: an earlier demo there is wiped first, "
            "any other non-empty directory is refused.",
        ),
    ] = Path("var/demo"),
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after seeding instead of serving.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    seed: Annotated[int, typer.Option(help="Faker seed for reproducible fake data.")] = 1,
) -> None:
    """Create a demo installation with fake staff and data, walk through every capability,
    then serve the API on 127.0.0.1 (Ctrl-C to stop)."""
    _clear_previous_demo(data_dir)
    mail_root = str(data_dir.resolve() / "mail" / "%d" / "%n" / "Maildir")
    # Always the demo's own SQLite file: an ENTRUSTED_DATABASE_URL in the environment may name
    # a real installation's database, which the demo must never touch.
    database_url = f"sqlite:///{(data_dir / 'entrusted.db').resolve()}"
    state.overrides.update(
        data_dir=data_dir,
        database_url=database_url,
        mail_root_template=mail_root,
        **DEMO_TRANSPORTS,
    )
    # The FTP step's server: a free loopback port, spaces under the demo's directory.
    state.overrides.update(
        ftp_bind_port=free_port(),
        ftp_root_template=str(data_dir.resolve() / "ftp" / "%n"),
        web_root_template=str(data_dir.resolve() / "www" / "%n"),
        ftp_auth_failed_delay_s=0.0,
    )
    # The demo's staff log in with the password it prints; a real installation needs TOTP.
    state.overrides["staff_totp_required"] = False
    # Links in its mails and pages point at the port it serves on (trial finding: --port
    # kept every mailed link on 8000).
    state.overrides.update(
        portal_url=f"http://127.0.0.1:{port}/portal", public_url=f"http://127.0.0.1:{port}"
    )
    for line in initialise(state.settings()):
        console.print(f"[green]created[/green] {line}")
    (data_dir / DEMO_MARKER).write_text("made by `entrusted demo`; the next demo run wipes it\n")
    fake = Faker("de_CH")
    fake.seed_instance(seed)
    with container() as c:
        for note in c.start(deployed_by=operator()):
            console.print(f"[green]started[/green] {note}")
        for note in c.require_transports():
            console.print(f"[green]messages[/green] {note}")
        console.rule("staff (P8: only support and sysadmins have technical access)")
        _seed_staff(c, fake)
        for title, step in DEMO_STEPS:
            console.rule(title)
            step(c, fake)
        first = c.staff.list_members()[0]
        console.rule("where the messages went (the directory transport: nothing left the machine)")
        console.print(f"  outbox: {c.outbox.deliver()}")
        console.print(f"  {len(mails(c))} e-mail(s) written to {mail_dir(c)} as .eml files")
        console.rule("try it")
        console.print(f"Every demo staff member's password is [bold]{DEMO_PASSWORD}[/bold]")
        console.print(
            f"  curl -s -X POST http://127.0.0.1:{port}/v1/auth/login "
            "-H 'content-type: application/json' "
            f'-d \'{{"username": "{first.username}", "password": "{DEMO_PASSWORD}"}}\'',
            highlight=False,
            soft_wrap=True,
        )
        console.print(f"  curl -s http://127.0.0.1:{port}/healthz", highlight=False)
        console.print(f"  curl -s http://127.0.0.1:{port}/privacy", highlight=False)
        if no_serve:
            console.print("demo seeded; not serving (--no-serve)")
            return
        import uvicorn

        from entrusted.entrypoints.server import create_server_app as create_app

        stop = threading.Event()
        threading.Thread(target=c.worker().run_forever, args=(stop,), daemon=True).start()
        console.print(f"serving on http://127.0.0.1:{port} (Ctrl-C to stop)")
        try:
            # proxy_headers off, as `serve`: a forwarded-for header from the loopback client
            # must not move the rate limits to an address of the caller's choosing
            uvicorn.run(
                create_app(container=c), host="127.0.0.1", port=port, log_level="warning",
                proxy_headers=False,
            )  # fmt: skip
        finally:
            stop.set()
