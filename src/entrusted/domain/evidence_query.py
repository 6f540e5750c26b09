"""Which ledger entries a figure of the evidence report counts, as one shared predicate.

Why apart: `entrusted evidence` counts with it and `entrusted evidence verify` recounts with it,
over the same entries up to the report's checkpoint; one predicate, so a figure cannot mean one
thing when written and another when checked. Also holds the small JSON helpers the evidence
modules share.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from entrusted.domain.audit import AuditEntry


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: object, what: str) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be an ISO 8601 time")  # noqa: TRY004 - parsers catch ValueError only
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{what} must carry a time zone")
    return moment


def str_set(value: object, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings or null")
    return frozenset(value)


def str_list(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """Which ledger entries a figure counts. Every field narrows; `None` means any.

    `rules` match the entry's `rule` field (a rule id or an outcome id from the catalogue);
    `effects` its `decision` ("allow" | "deny"); `actions`, `kinds` (resource kinds) and
    `actor_kinds` the matching fields; `reasons` the entry's whole `reason` text (how a grant
    ended, say: "grant ended: case_resolved"); `lacking_ref` keeps only entries whose `refs` have no
    such key (say "grant": an access made under no grant). `since` is inclusive, `until`
    exclusive.
    """

    rules: frozenset[str] | None = None
    effects: frozenset[str] | None = None
    actions: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    actor_kinds: frozenset[str] | None = None
    reasons: frozenset[str] | None = None
    lacking_ref: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("a ledger query's times must carry a time zone")

    def matches(self, entry: AuditEntry) -> bool:
        return self.matches_fields(
            entry.time,
            entry.rule,
            entry.decision,
            entry.action,
            entry.resource_kind,
            entry.actor_kind,
            entry.refs.keys(),
            entry.reason,
        )

    def matches_fields(
        self,
        time: datetime,
        rule: str | None,
        decision: str,
        action: str,
        kind: str,
        actor_kind: str,
        ref_keys: Collection[str],
        reason: str = "",
    ) -> bool:
        """`matches` over the fields alone, for scans that never build an `AuditEntry`."""
        return (
            (self.rules is None or (rule is not None and rule in self.rules))
            and (self.effects is None or decision in self.effects)
            and (self.actions is None or action in self.actions)
            and (self.kinds is None or kind in self.kinds)
            and (self.actor_kinds is None or actor_kind in self.actor_kinds)
            and (self.reasons is None or reason in self.reasons)
            and (self.lacking_ref is None or self.lacking_ref not in ref_keys)
            and (self.since is None or time >= self.since)
            and (self.until is None or time < self.until)
        )

    def describe(self) -> str:
        parts: list[str] = []
        for name, values in (
            ("rule", self.rules),
            ("decision", self.effects),
            ("action", self.actions),
            ("resource kind", self.kinds),
            ("actor kind", self.actor_kinds),
            ("reason", self.reasons),
        ):
            if values is not None:
                listed = ", ".join(sorted(values))
                parts.append(
                    f"{name} = {listed}" if len(values) == 1 else f"{name} in {{{listed}}}"
                )
        if self.lacking_ref is not None:
            parts.append(f"no {self.lacking_ref} in refs")
        if self.since is not None:
            parts.append(f"time >= {iso(self.since)}")
        if self.until is not None:
            parts.append(f"time < {iso(self.until)}")
        return "entries where " + (" and ".join(parts) if parts else "anything")

    def to_json(self) -> dict[str, Any]:
        def listed(values: frozenset[str] | None) -> list[str] | None:
            return None if values is None else sorted(values)

        return {
            "rules": listed(self.rules),
            "effects": listed(self.effects),
            "actions": listed(self.actions),
            "kinds": listed(self.kinds),
            "actor_kinds": listed(self.actor_kinds),
            "reasons": listed(self.reasons),
            "lacking_ref": self.lacking_ref,
            "since": None if self.since is None else iso(self.since),
            "until": None if self.until is None else iso(self.until),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerQuery:
        lacking = data.get("lacking_ref")
        if lacking is not None and not isinstance(lacking, str):
            raise ValueError("lacking_ref must be a string or null")
        since, until = data.get("since"), data.get("until")
        return cls(
            rules=str_set(data.get("rules"), "rules"),
            effects=str_set(data.get("effects"), "effects"),
            actions=str_set(data.get("actions"), "actions"),
            kinds=str_set(data.get("kinds"), "kinds"),
            actor_kinds=str_set(data.get("actor_kinds"), "actor_kinds"),
            reasons=str_set(data.get("reasons"), "reasons"),
            lacking_ref=lacking,
            since=None if since is None else parse_time(since, "since"),
            until=None if until is None else parse_time(until, "until"),
        )
