"""The demo's ledger step: appends acknowledged with receipts, a signed checkpoint, a proof a
customer can check, and a full audit of the log."""

from __future__ import annotations

import json

from faker import Faker
from rich.markup import escape

from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.bootstrap import Container
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.entrypoints.cli.context import console
from entrusted.services.gate import AccessContext
from entrusted.services.receipts import ReceiptService, verify_receipt


def ledger_step(c: Container, fake: Faker) -> None:
    support = next(m for m in c.staff.list_members() if "support" in m.roles)
    who = Actor(ActorKind.STAFF, support.id, support.roles)
    customer = f"cus_{fake.hexify('^' * 16)}"  # the shape `domain.ids` accepts
    last = 0
    for n in range(3):
        resource = Resource(ResourceKind.MAILBOX_METADATA, f"mbx_{n + 1}", customer)
        audited = c.gate.decide(who, Action.LIST_METADATA, resource, AccessContext("case_demo"))
        last = audited.receipt.index
        console.print(
            f"  appended #{last}: {support.username} listed {resource.id} of {customer}; "
            f"leaf hash {audited.receipt.leaf_hash.hex()[:16]}…",
            highlight=False,
        )
    signed = c.checkpoints.sign(force=True)
    assert signed is not None
    console.print("  signed checkpoint (C2SP signed note):", highlight=False)
    for line in signed.note.splitlines():
        console.print(f"    {escape(line)}", highlight=False, soft_wrap=True)
    receipts = ReceiptService(c.ledger_store, c.checkpoints)
    check = receipts.prove(last)
    console.print(
        f"  inclusion proof of #{last} in the tree of {check.size}: {len(check.proof)} hashes, "
        f"verifies: {'yes' if check.verified else 'NO'}",
        highlight=False,
    )
    report = verify_ledger(c.engine, c.checkpoints.key_list)
    console.print(
        f"  ledger verify: {report.size} entries, {report.tiles} tiles and "
        f"{report.checkpoints} checkpoints recomputed and checked: intact",
        highlight=False,
    )
    path = c.settings.data_dir / f"receipt-{customer}.json"
    receipt = receipts.export(customer)
    path.write_text(json.dumps(receipt, indent=1) + "\n", encoding="utf-8")
    verified = verify_receipt(receipt, c.checkpoints.key_list)
    console.print(
        f"  receipt for {customer}: {len(verified.entries)} entries with proofs in {path}; "
        f"check it offline with `entrusted ledger verify-receipt {path} --key "
        f"{c.settings.effective_ledger_key_file}.pub`",
        highlight=False,
        soft_wrap=True,
    )
