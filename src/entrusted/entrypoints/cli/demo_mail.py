"""The demo's mail step (P13, P14): a generated Maildir for a fake mailbox, support sees its
size, folders and counts (never a message), and a staff member outside support is refused;
both ledgered."""

from __future__ import annotations

from pathlib import Path

from faker import Faker
from rich.markup import escape

from entrusted.bootstrap import Container
from entrusted.domain.mail import mailbox_root
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_registry import SIGNUP, _person, _staff, _try
from entrusted.services.registry_forms import ServiceRequest

ADDRESS = "team@example.com"
FOLDERS = {"": 40, ".Sent": 25, ".Archive.2025": 120, ".Entw&APw-rfe": 3}  # Entwürfe


def _generate(root: Path, fake: Faker) -> None:
    for folder, count in FOLDERS.items():
        for sub in ("cur", "new", "tmp"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            size = fake.random_int(800, 90_000)
            name = f"17{i:08d}.M{i}P{count}.demo,S={size},W={size + size // 40}"
            (root / folder / "cur" / f"{name}:2,S").touch()


def mail_step(c: Container, fake: Faker) -> None:
    c.registry.register(SIGNUP, _person(fake, 4, (ServiceRequest("mailbox", ADDRESS),)))
    root = Path(mailbox_root(c.settings.mail_root_template, ADDRESS))
    _generate(root, fake)
    console.print(f"  generated a Maildir of {sum(FOLDERS.values())} empty messages")
    name, support = _staff(c, "support")
    meta = c.mailbox_monitor.metadata(support, ADDRESS)
    console.print(
        f"  {name} monitors {meta.service_id}: {meta.messages} messages, {meta.bytes:,} bytes "
        "(from file names; no message opened)"
    )
    for f in meta.folders:
        console.print(f"    {escape(f.name):<14} {f.messages:>4} messages {f.bytes:>10,} bytes")
    _, office = _staff(c, "office")
    _try("office staff monitor the mailbox", lambda: c.mailbox_monitor.metadata(office, ADDRESS))
