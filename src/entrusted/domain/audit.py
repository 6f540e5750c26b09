"""What one ledger entry says, as canonical bytes.

An entry names ids, never personal details: the log's tiles are public and the entry bodies
go to the customer concerned, so a leak of either must reveal nothing about anyone. The
32-byte random nonce stops anyone from confirming a guessed entry by brute-forcing its leaf
hash (low-entropy fields like "support read mailbox X" would otherwise be enumerable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ENTRY_VERSION = 1


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
        """Canonical JSON: sorted keys, no spaces, UTF-8; the same entry always hashes the same."""
        return json.dumps(
            self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

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
