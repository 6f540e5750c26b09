"""Receipts: a customer's entries with proofs, verified offline; any damage is an error."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from entrusted.bootstrap import Container
from entrusted.crypto.signing import NoteSigner
from entrusted.domain.checkpoint import b64decode_strict, b64encode
from entrusted.errors import EntrustedError, InvalidInput, NotFound, TamperDetected
from entrusted.services.receipts import RECEIPT_FORMAT, ReceiptService, verify_receipt
from tests.integration.ledger_support import CUSTOMERS, fill

pytestmark = pytest.mark.promise("P3", "P14")

SIZE = 900


@pytest.fixture
def receipts(container: Container) -> ReceiptService:
    fill(container, SIZE, (10, 300, 600))
    return ReceiptService(container.ledger_store, container.checkpoints)


def test_export_verifies_offline(receipts: ReceiptService, container: Container) -> None:
    receipt = receipts.export("cus_2")
    receipt = json.loads(json.dumps(receipt))  # survives a round trip through a file
    assert receipt["format"] == RECEIPT_FORMAT
    assert receipt["vkey"] == container.checkpoints.vkey
    report = verify_receipt(receipt, container.checkpoints.vkey)
    expected = [i for i in range(SIZE) if CUSTOMERS[i % len(CUSTOMERS)] == "cus_2"]
    assert [index for index, _ in report.entries] == expected
    assert {entry.owner for _, entry in report.entries} == {"cus_2"}
    assert report.size == SIZE  # export signed a checkpoint covering the newest entries
    assert report.earlier_checkpoints == 3  # 10, 300, 600; re-signed duplicates appear once
    assert report.root == container.ledger_store.root_at(SIZE)


def test_a_customer_without_entries_gets_an_empty_receipt(receipts: ReceiptService) -> None:
    receipt = receipts.export("cus_404")
    assert receipt["entries"] == []
    assert verify_receipt(receipt, receipt["vkey"]).entries == ()
    with pytest.raises(InvalidInput):
        receipts.export("")


def test_prove_one_entry(receipts: ReceiptService) -> None:
    check = receipts.prove(123)
    assert check.verified
    assert check.size == 600  # the latest signed checkpoint, not the unsigned head
    older = receipts.prove(123, size=300)
    assert older.verified
    assert older.size == 300
    assert len(older.proof) == 9  # ceil(log2(300))
    with pytest.raises(NotFound):
        receipts.prove(300, size=300)
    with pytest.raises(NotFound):
        receipts.prove(1, size=299)  # no checkpoint was signed at 299


Damage = Callable[[dict[str, Any]], None]


def _flip_b64(value: str) -> str:
    data = bytearray(b64decode_strict(value))
    data[len(data) // 2] ^= 1
    return b64encode(bytes(data))


def _other(ch: str) -> str:
    return "A" if ch != "A" else "B"


def _cut_b64(value: str) -> str:
    return b64encode(b64decode_strict(value)[:-1])


def _set(path: tuple[Any, ...], value: Any) -> Damage:
    def damage(receipt: dict[str, Any]) -> None:
        target: Any = receipt
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value

    return damage


def _drop(path: tuple[Any, ...]) -> Damage:
    def damage(receipt: dict[str, Any]) -> None:
        target: Any = receipt
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return damage


TAMPERED: dict[str, Damage] = {
    "entry body changed": _set(("entries", 0, "body"), _flip_b64),
    "entry index changed": _set(("entries", 1, "index"), lambda i: i + 1),
    "proof hash changed": _set(("entries", 0, "inclusion_proof", 0), _flip_b64),
    "proof truncated": _set(("entries", 2, "inclusion_proof"), lambda p: p[:-1]),
    "proof extended": _set(("entries", 2, "inclusion_proof"), lambda p: [*p, p[0]]),
    "checkpoint re-rooted": _set(("checkpoint",), lambda n: n.replace("\n900\n", "\n901\n")),
    "signature changed": _set(("checkpoint",), lambda n: n[:-10] + _other(n[-10]) + n[-9:]),
    "consistency proof truncated": _set(
        ("earlier_checkpoints", 1, "consistency_proof"), lambda p: p[1:]
    ),
    "consistency proof changed": _set(
        ("earlier_checkpoints", 2, "consistency_proof", 0), _flip_b64
    ),
    "earlier checkpoint altered": _set(
        ("earlier_checkpoints", 0, "checkpoint"), lambda n: n.replace("\n10\n", "\n11\n")
    ),
}

MALFORMED: dict[str, Damage] = {
    "empty object": lambda r: r.clear(),
    "unknown format": _set(("format",), "entrusted-receipt/v0"),
    "missing entries": _drop(("entries",)),
    "entries not a list": _set(("entries",), {"0": 1}),
    "entry not an object": _set(("entries", 0), "x"),
    "index not an integer": _set(("entries", 0, "index"), "0"),
    "index a boolean": _set(("entries", 0, "index"), True),
    "index beyond the checkpoint": _set(("entries", 0, "index"), SIZE),
    "body not base64": _set(("entries", 0, "body"), "***"),
    "hash truncated": _set(("entries", 0, "inclusion_proof", 0), _cut_b64),
    "proof not a list": _set(("entries", 0, "inclusion_proof"), "abc"),
    "unknown field": _set(("extra",), 1),
    "entries out of order": lambda r: r["entries"].reverse(),
    "customer missing": _set(("customer",), ""),
}


def test_damaged_receipts_never_pass(receipts: ReceiptService, container: Container) -> None:
    """Each damage on a fresh copy of one receipt (an export per damage would be slow)."""
    receipt = receipts.export("cus_1")
    verify_receipt(receipt, container.checkpoints.vkey)
    outcomes: dict[str, tuple[type[EntrustedError], str] | None] = {}
    for name, damage in (TAMPERED | MALFORMED).items():
        damaged = copy.deepcopy(receipt)
        damage(damaged)
        try:
            verify_receipt(damaged, container.checkpoints.vkey)
            outcomes[name] = None
        except EntrustedError as exc:
            outcomes[name] = (type(exc), exc.message)
    assert {n: o[0] if o else "PASSED" for n, o in outcomes.items()} == (
        dict.fromkeys(TAMPERED, TamperDetected) | dict.fromkeys(MALFORMED, InvalidInput)
    )
    for name in MALFORMED:
        outcome = outcomes[name]
        assert outcome is not None
        assert outcome[1].startswith("receipt: "), name  # names what is wrong with the file


def test_wrong_key_and_wrong_customer_fail(receipts: ReceiptService, container: Container) -> None:
    receipt = receipts.export("cus_1")
    impostor = NoteSigner.generate(container.checkpoints.origin)
    with pytest.raises(TamperDetected, match="no signature by"):
        verify_receipt(receipt, impostor.vkey)
    with pytest.raises(InvalidInput, match="vkey"):
        verify_receipt(receipt, "not-a-key")
    with pytest.raises(InvalidInput, match="JSON object"):
        verify_receipt([receipt], container.checkpoints.vkey)
    # An entry about someone else, with its valid proof, moved into this receipt.
    other = receipts.export("cus_3")
    stolen = copy.deepcopy(receipt)
    stolen["entries"] = [other["entries"][0]]
    with pytest.raises(TamperDetected, match="about customer 'cus_3'"):
        verify_receipt(stolen, container.checkpoints.vkey)
    # The same entries presented as another customer's.
    stolen = copy.deepcopy(receipt)
    stolen["customer"] = "cus_2"
    with pytest.raises(TamperDetected, match="not 'cus_2'"):
        verify_receipt(stolen, container.checkpoints.vkey)
    # A history signed by another key cannot be passed off as an earlier checkpoint.
    forged = copy.deepcopy(receipt)
    note = forged["earlier_checkpoints"][0]["checkpoint"]
    forged["earlier_checkpoints"][0]["checkpoint"] = impostor.sign_note(
        note.split("\n\n")[0] + "\n"
    )
    with pytest.raises(TamperDetected, match="earlier_checkpoints"):
        verify_receipt(forged, container.checkpoints.vkey)
