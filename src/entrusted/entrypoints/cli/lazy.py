"""The root command's sub-commands, each loaded from its module only when it runs.

Importing every command module pulled in the services, SQLAlchemy and Faker: about a second
before `entrusted --version` could print. The root listing needs only a name and one line of
help per command, so those are written here; tests/unit/test_cli_lazy.py checks that each line
still equals the help of the command it stands for, and that nothing heavy loads for `--help`.
"""

from __future__ import annotations

import importlib
from functools import cached_property
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# name -> (module in entrypoints/cli, attribute: a Typer app or a command function, help line),
# in the order `entrusted --help` lists them (after the commands defined in main.py).
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "demo",
        "demo",
        "Create a demo installation with fake staff and data, walk through every capability, "
        "then serve the API on 127.0.0.1 (Ctrl-C to stop).",
    ),
    "bench": (
        "bench",
        "bench",
        "Run a benchmark and print its measurements (same-run peers and limits included).",
    ),
    "staff": (
        "staff",
        "app",
        "Manage staff members, their roles, second factors and API tokens. Each step is "
        "ledgered as the machine's operator (OS user and host), or as the sysadmin whose token "
        "is in ENTRUSTED_TOKEN.",
    ),
    "policy": (
        "policy",
        "app",
        "Prove, explain and compare the access rules: who may do what to which customer data.",
    ),
    "ledger": (
        "ledger",
        "app",
        "Audit, sign, prove and export the tamper-evident ledger of every access decision.",
    ),
    "customers": (
        "customers",
        "app",
        "Register and import customers, identify callers, find contract holders.",
    ),
    "contracts": ("contracts", "app", "Open, show, cancel and transfer contracts."),
    "provisioning": (
        "provisioning",
        "app",
        "Sync customers, contracts and hosted services from the provisioning system's file.",
    ),
    "cases": ("cases", "app", "Support cases, access requests and verbal consent."),
    "grants": ("grants", "app", "Consent grants: the expiry job."),
    "keys": (
        "keys",
        "app",
        "Show and rotate the master key of customers' data keys; back up, restore and roll "
        "over keys.",
    ),
    "mail": ("mail", "app", "Mailbox metadata and the Dovecot staff-login gate."),
    "ftp": ("ftp", "app", "The FTPS backup space: its server, its certificate, a space's sizes."),
    "outbox": ("outbox", "app", "Notices queued for customers: list them, deliver the due ones."),
    "backups": (
        "backups",
        "app",
        "Encrypted backups: take, list, restore (sysadmins) and destroy after 7 days.",
    ),
    "disclosures": (
        "disclosures",
        "app",
        "The disclosure desk: third-party requests, Swiss court orders, scoped disclosures.",
    ),
    "mailings": (
        "mailings",
        "app",
        "Purpose-limited mailings to our own customers: compose, send, follow (P6, P7).",
    ),
    "policy-doc": (
        "policy_doc",
        "app",
        "The public policy document: show its versions, publish a new one (legal).",
    ),
    "evidence": (
        "evidence",
        "app",
        "The evidence report: promise by promise, the machine evidence that each is kept.",
    ),
    "deploy": ("deploy", "app", "Deployment files: the systemd units."),
    "witness": (
        "witness",
        "app",
        "Run a witness that cosigns another party's log checkpoints (C2SP tlog-witness).",
    ),
}


class LazyCommand(TyperCommand):
    """Stands in the root listing for a command whose module is not imported yet. Running it
    (or asking for its help, or walking its sub-commands) imports the module and hands over
    to the real command."""

    def __init__(self, name: str, module: str, attribute: str, help_line: str) -> None:
        super().__init__(name=name, help=help_line)
        self.module = f"entrusted.entrypoints.cli.{module}"
        self.attribute = attribute

    @cached_property
    def real(self) -> Any:
        """The command itself: a Typer app becomes its group, a function a one-command app."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        if isinstance(target, typer.Typer):
            command: Any = typer.main.get_group(target)
        else:
            single = typer.Typer(add_completion=False)
            single.command(self.name)(target)
            command = typer.main.get_command(single)
        command.name = self.name
        return command

    @property
    def commands(self) -> Any:
        """The real group's sub-commands, for code that walks the tree (the docs generator)."""
        return getattr(self.real, "commands", {})

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        return self.real.make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """The root group: the commands defined in main.py, then a `LazyCommand` per entry of
    `LAZY_COMMANDS`."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (module, attribute, help_line) in LAZY_COMMANDS.items():
            self.commands.setdefault(name, LazyCommand(name, module, attribute, help_line))
