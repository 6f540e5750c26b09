"""Receipts: a customer's own ledger entries, with the proofs to check them offline.

A receipt holds every entry filed under one customer below the latest signed checkpoint, each
with its RFC 9162 inclusion proof, and every earlier checkpoint with a consistency proof to
the latest. With only the log's published verifier key, the customer (or anyone they hand it
to) can check that each entry is in the log the operator signed, and that the signed history
only ever grew; a customer who keeps receipts over time catches a rewritten past.

What a receipt cannot prove is that no entry about the customer is missing from it: that is
what full-log audits (`entrusted ledger verify`, which checks each entry's filing) are for.

`verify_receipt` needs no database and trusts nothing in the receipt except what the key
signs. Malformed input is `InvalidInput`; anything that fails a signature or a proof is
`TamperDetected`. Neither ever passes.

>>> receipts = ReceiptService(log, checkpoints)  # doctest: +SKIP
>>> report = verify_receipt(receipts.export("cus_1"), checkpoints.vkey)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from entrusted.crypto.signing import verify_note
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import Checkpoint, b64decode_strict, b64encode
from entrusted.domain.ledger import (
    HASH_SIZE,
    leaf_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from entrusted.errors import InvalidInput, NotFound, TamperDetected
from entrusted.services.ledger import CheckpointService
from entrusted.services.ports import LedgerLog
from entrusted.services.witness_submit import WitnessPolicy

RECEIPT_FORMAT = "entrusted-receipt/v1"
MAX_CUSTOMER_ID = 40
_FIELD = "receipt"


@dataclass(frozen=True, slots=True)
class InclusionCheck:
    """One entry, its inclusion proof against the signed checkpoint `note`, and the verdict."""

    index: int
    size: int
    body: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    note: str
    verified: bool


@dataclass(frozen=True, slots=True)
class ReceiptReport:
    """What a receipt proved: these entries about `customer` are in the log signed at `size`."""

    customer: str
    origin: str
    size: int
    root: bytes
    entries: tuple[tuple[int, AuditEntry], ...]
    earlier_checkpoints: int
    witnesses: tuple[str, ...] = ()  # who cosigned the checkpoint, when a policy was given


class ReceiptService:
    def __init__(
        self,
        log: LedgerLog,
        checkpoints: CheckpointService,
        known: Callable[[str], bool] | None = None,
    ) -> None:
        self._log = log
        self._checkpoints = checkpoints
        # Whether a customer id names a registered customer: a receipt for nobody (a typo'd
        # id) is NotFound rather than an empty file handed to somebody as their proof.
        self._known = known

    def export(self, customer_id: str) -> dict[str, Any]:
        """The receipt of `customer_id`, against a checkpoint covering every entry so far."""
        if not customer_id or len(customer_id) > MAX_CUSTOMER_ID:
            raise InvalidInput("customer", f"a customer id has 1 to {MAX_CUSTOMER_ID} characters")
        if self._known is not None and not self._known(customer_id):
            raise NotFound("customer", customer_id)
        self._checkpoints.sign()  # only signs if the log grew since the last checkpoint
        latest = self._checkpoints.latest()
        entries = [
            {
                "index": index,
                "body": b64encode(body),
                "inclusion_proof": _b64_list(self._log.inclusion_proof(index, latest.size)),
            }
            for index, body in self._log.entries_for_customer(customer_id, latest.size)
        ]
        earlier: dict[str, dict[str, Any]] = {}
        for cp in self._log.checkpoints():
            # latest.note is the stored note followed by the witnesses' cosignature lines
            if cp.size <= latest.size and not latest.note.startswith(cp.note) and (
                cp.note not in earlier
            ):
                proof = self._log.consistency_proof(cp.size, latest.size)
                earlier[cp.note] = {"checkpoint": cp.note, "consistency_proof": _b64_list(proof)}
        receipt = {
            "format": RECEIPT_FORMAT,
            "origin": self._checkpoints.origin,
            "vkey": self._checkpoints.key_list,  # one vkey per line after a key rollover
            "customer": customer_id,
            "checkpoint": latest.note,
            "entries": entries,
            "earlier_checkpoints": list(earlier.values()),
        }
        # Checked here exactly as the customer will check it: a receipt built from an altered
        # store (a flipped tile, a bad old signature) is refused, never handed out as proof.
        verify_receipt(receipt, self._checkpoints.key_list)
        return receipt

    def prove(self, index: int, size: int | None = None) -> InclusionCheck:
        """Entry `index` with its inclusion proof against the latest signed checkpoint, or the
        signed checkpoint of tree size `size`; verified here exactly as a customer would."""
        if size is None:
            note = self._checkpoints.latest().note
        else:
            found = [cp for cp in self._log.checkpoints() if cp.size == size]
            if not found:
                raise NotFound("signed checkpoint of size", size)
            note = found[-1].note
        cp = verify_note(note, self._checkpoints.key_list, origin=self._checkpoints.origin)
        if not 0 <= index < cp.size:
            raise NotFound("ledger entry", f"{index} (the checkpoint holds {cp.size} entries)")
        body = self._log.entries(index, index + 1)[0]
        proof = self._log.inclusion_proof(index, cp.size)
        lh = leaf_hash(body)
        ok = verify_inclusion(lh, index, cp.size, proof, cp.root)
        return InclusionCheck(index, cp.size, body, lh, tuple(proof), note, ok)


def _b64_list(hashes: list[bytes]) -> list[str]:
    return [b64encode(h) for h in hashes]


# --- offline verification -------------------------------------------------------------------


def verify_receipt(
    receipt: object, vkey: str, witnesses: WitnessPolicy | None = None
) -> ReceiptReport:
    """Check a receipt with nothing but the log's verifier key; raise unless all of it holds.
    With `witnesses`, its checkpoint must also carry the policy's k of n cosignatures."""
    data = _object(
        receipt,
        "the receipt",
        "format",
        "origin",
        "vkey",
        "customer",
        "checkpoint",
        "entries",
        "earlier_checkpoints",
    )
    if data["format"] != RECEIPT_FORMAT:
        raise InvalidInput(_FIELD, f"unknown format {data['format']!r} (want {RECEIPT_FORMAT})")
    origin = _string(data["origin"], "origin")
    customer = _string(data["customer"], "customer")
    claimed_key = _string(data["vkey"], "vkey")
    try:
        latest = verify_note(_string(data["checkpoint"], "checkpoint"), vkey, origin=origin)
    except TamperDetected as exc:
        hint = "" if claimed_key == vkey else f" (the receipt names key {claimed_key})"
        raise TamperDetected(
            f"the receipt's checkpoint does not verify: {exc.message}{hint}"
        ) from None
    cosigners = witnesses.check(data["checkpoint"]) if witnesses is not None else {}
    entries = _check_entries(_list(data["entries"], "entries"), latest, customer)
    earlier = _list(data["earlier_checkpoints"], "earlier_checkpoints")
    for n, item in enumerate(earlier):
        _check_earlier(n, item, latest, vkey)
    return ReceiptReport(
        customer, origin, latest.size, latest.root, entries, len(earlier), tuple(sorted(cosigners))
    )


def _check_entries(
    items: list[Any], latest: Checkpoint, customer: str
) -> tuple[tuple[int, AuditEntry], ...]:
    out: list[tuple[int, AuditEntry]] = []
    for n, item in enumerate(items):
        where = f"entries[{n}]"
        entry = _object(item, where, "index", "body", "inclusion_proof")
        index = entry["index"]
        if type(index) is not int or not 0 <= index < latest.size:
            raise InvalidInput(_FIELD, f"{where}.index must be an entry index below {latest.size}")
        if out and index <= out[-1][0]:
            raise InvalidInput(_FIELD, f"{where}: entries must be in increasing index order")
        body = _b64(entry["body"], f"{where}.body")
        proof = _hashes(entry["inclusion_proof"], f"{where}.inclusion_proof")
        try:
            root = root_from_inclusion(leaf_hash(body), index, latest.size, proof)
        except ValueError as exc:
            raise TamperDetected(
                f"entry {index}: the inclusion proof is malformed for a tree of {latest.size} "
                f"entries ({exc})",
                index=index,
            ) from None
        if root != latest.root:
            raise TamperDetected(
                f"entry {index}: the inclusion proof does not lead to the signed root",
                index=index,
            )
        try:
            parsed = AuditEntry.from_bytes(body)
        except (ValueError, TypeError) as exc:
            raise TamperDetected(
                f"entry {index} is not a ledger entry: {exc}", index=index
            ) from None
        if parsed.owner != customer:
            raise TamperDetected(
                f"entry {index} is about customer {parsed.owner!r}, not {customer!r}", index=index
            )
        out.append((index, parsed))
    return tuple(out)


def _check_earlier(n: int, item: object, latest: Checkpoint, vkey: str) -> None:
    where = f"earlier_checkpoints[{n}]"
    data = _object(item, where, "checkpoint", "consistency_proof")
    try:
        old = verify_note(
            _string(data["checkpoint"], f"{where}.checkpoint"), vkey, origin=latest.origin
        )
    except TamperDetected as exc:
        raise TamperDetected(f"{where} does not verify: {exc.message}") from None
    proof = _hashes(data["consistency_proof"], f"{where}.consistency_proof")
    if old.size > latest.size or not verify_consistency(
        old.size, latest.size, old.root, latest.root, proof
    ):
        raise TamperDetected(
            f"{where} (size {old.size}) is not proven consistent with the latest checkpoint "
            f"(size {latest.size}): the signed history was rewritten or the proof is wrong"
        )


# --- strict shape checks: every malformed receipt gets a message naming the field ----------


def _object(value: object, where: str, *keys: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(_FIELD, f"{where} must be a JSON object")
    missing = [k for k in keys if k not in value]
    if missing:
        raise InvalidInput(_FIELD, f"{where} lacks {', '.join(missing)}")
    extra = sorted(set(value) - set(keys))
    if extra:
        raise InvalidInput(_FIELD, f"{where} has unknown field(s) {', '.join(map(str, extra))}")
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(_FIELD, f"{where} must be a non-empty string")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(_FIELD, f"{where} must be a list")
    return value


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(_FIELD, f"{where} must be a base64 string")
    try:
        return b64decode_strict(value)
    except ValueError as exc:
        raise InvalidInput(_FIELD, f"{where}: {exc}") from None


def _hashes(value: object, where: str) -> list[bytes]:
    out = [_b64(h, f"{where}[{i}]") for i, h in enumerate(_list(value, where))]
    if any(len(h) != HASH_SIZE for h in out):
        raise InvalidInput(_FIELD, f"{where} must hold {HASH_SIZE}-byte hashes")
    return out
