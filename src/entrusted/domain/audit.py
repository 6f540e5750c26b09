"""What one ledger entry says, as canonical bytes.

An entry names ids, never personal details: the log's tiles are public and the entry bodies
go to the customer concerned, so a leak of either must reveal nothing about anyone. The
32-byte random nonce stops anyone from confirming a guessed entry by brute-forcing its leaf
hash (low-entropy fields like "support read mailbox X" would otherwise be enumerable).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import repeat
from json.encoder import encode_basestring as _quote  # C; as json.dumps(ensure_ascii=False)
from operator import add
from typing import Any

ENTRY_VERSION = 1
_OWNER_KEY = b'"owner":'
_NO_OWNER = b"null}"


def canonical_bytes(value: object) -> bytes:
    """The canonical form's definition: JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    time: datetime
    actor_kind: str
    actor_id: str
    action: str
    resource_kind: str
    resource_id: str
    decision: str  # "allow" | "deny"
    reason: str
    nonce: bytes
    actor_roles: tuple[str, ...] = ()
    owner: str | None = None  # the customer whose data it is, by id
    rule: str | None = None
    refs: dict[str, str] = field(default_factory=dict)  # case, grant, court_order ids

    def __post_init__(self) -> None:
        if len(self.nonce) != 32:
            raise ValueError("an audit entry needs a 32-byte random nonce")
        if self.time.tzinfo is None:
            raise ValueError("audit entry time must be timezone-aware")
        if self.decision not in {"allow", "deny"}:
            raise ValueError("decision must be allow or deny")

    def to_json(self) -> dict[str, Any]:
        return {
            "v": ENTRY_VERSION,
            "time": self.time.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": {
                "kind": self.actor_kind,
                "id": self.actor_id,
                "roles": list(self.actor_roles),
            },
            "action": self.action,
            "resource": {"kind": self.resource_kind, "id": self.resource_id, "owner": self.owner},
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "refs": dict(sorted(self.refs.items())),
            "nonce": self.nonce.hex(),
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8; the same entry always hashes the same.
        `canonical_bytes(self.to_json())` is the definition; `entry_bytes` writes the same
        bytes faster (tests/unit/test_audit_bytes.py keeps the two byte-equal)."""
        try:
            return entry_bytes(
                self.time,
                self.actor_kind,
                self.actor_id,
                self.actor_roles,
                self.action,
                self.resource_kind,
                self.resource_id,
                self.owner,
                self.decision,
                self.rule,
                self.reason,
                self.refs,
                self.nonce,
            )
        except (TypeError, AttributeError):  # a field not of its declared type
            return canonical_bytes(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditEntry:
        try:
            raw = json.loads(data.decode("utf-8"))
            if raw.get("v") != ENTRY_VERSION:
                raise ValueError(f"unknown entry version {raw.get('v')!r}")
            return cls(
                time=datetime.fromisoformat(raw["time"]),
                actor_kind=raw["actor"]["kind"],
                actor_id=raw["actor"]["id"],
                actor_roles=tuple(raw["actor"]["roles"]),
                action=raw["action"],
                resource_kind=raw["resource"]["kind"],
                resource_id=raw["resource"]["id"],
                owner=raw["resource"]["owner"],
                decision=raw["decision"],
                rule=raw["rule"],
                reason=raw["reason"],
                refs=dict(raw["refs"]),
                nonce=bytes.fromhex(raw["nonce"]),
            )
        except (
            KeyError,
            TypeError,
            AttributeError,
            UnicodeDecodeError,
            json.JSONDecodeError,
        ) as exc:
            raise ValueError(f"not a ledger entry: {exc}") from None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The acknowledgement of a durable append: where the entry sits and what it hashes to."""

    index: int
    leaf_hash: bytes


@lru_cache(maxsize=8192)
def _owner_suffix(customer: object) -> bytes | None:
    """What follows `"owner":` in the entry of `customer`; None if no entry can have it."""
    if customer is None:
        return _NO_OWNER
    if not isinstance(customer, str):
        return None
    return json.dumps(customer, ensure_ascii=False).encode("utf-8") + b"}"


def first_misfiled(bodies: Sequence[bytes], customers: Sequence[object]) -> int | None:
    """Position of the first entry body whose owner is not `customers[i]`, or None.

    The ledger files each entry under its owner's id so a customer's receipt can select it; a
    changed filing would hide an entry from its customer, so an audit checks every one, fast
    (this runs on every entry of the log). Canonical JSON makes the owner's place certain
    without parsing: `"owner":` cannot occur unescaped inside a string, `resource` sorts after
    the only object with free keys (`refs`), and `owner` is the last key of `resource`. So the
    last `"owner":` must be followed by the filed id as JSON and `}`; a body without one (not
    an AuditEntry) must be filed under no one. The common case runs as C-level `map`s.
    """
    at = list(map(bytes.rfind, bodies, repeat(_OWNER_KEY)))
    wants = list(map(_owner_suffix, customers))
    if -1 not in at and None not in wants:
        starts = map(add, at, repeat(len(_OWNER_KEY)))
        if all(map(bytes.startswith, bodies, wants, starts)):  # type: ignore[arg-type]  # `wants` has no None here (checked above); mypy cannot narrow a list
            return None
    for i, (body, want, pos) in enumerate(zip(bodies, wants, at, strict=True)):
        if want is None or (want != _NO_OWNER if pos < 0 else not body.startswith(want, pos + 8)):
            return i
    return None


def entry_bytes(
    time: datetime,
    actor_kind: str,
    actor_id: str,
    actor_roles: Sequence[str],
    action: str,
    resource_kind: str,
    resource_id: str,
    owner: str | None,
    decision: str,
    rule: str | None,
    reason: str,
    refs: Mapping[str, str],
    nonce: bytes,
) -> bytes:
    """An entry's canonical bytes from its fields, without building the `AuditEntry`.

    Every audited decision serialises one entry, so this writes the keys in their sorted
    order directly, with JSON's own C string escaper, instead of building `to_json` and
    sorting it in `json.dumps` (a third of the time); the gate calls it with fields it has
    validated, skipping the entry object too. Fields of another type raise `TypeError`."""
    q = _quote
    roles = ",".join(map(q, actor_roles))
    pairs = ",".join([f"{q(k)}:{q(v)}" for k, v in sorted(refs.items())])
    when = time.astimezone(UTC).isoformat(timespec="microseconds")
    text = (
        f'{{"action":{q(action)},"actor":{{"id":{q(actor_id)},'
        f'"kind":{q(actor_kind)},"roles":[{roles}]}},'
        f'"decision":{q(decision)},"nonce":"{nonce.hex()}",'
        f'"reason":{q(reason)},"refs":{{{pairs}}},'
        f'"resource":{{"id":{q(resource_id)},"kind":{q(resource_kind)},'
        f'"owner":{"null" if owner is None else q(owner)}}},'
        f'"rule":{"null" if rule is None else q(rule)},"time":"{when}","v":{ENTRY_VERSION}}}'
    )
    return text.encode("utf-8")
