"""One scan of the log for every figure of the evidence report.

Why a tally: a report over a million entries must take seconds, and decoding each entry is
the cost, so every entry is read once and counted under a small key of the fields the
queries look at (rule, decision, action, resource kind, actor kind, whether a grant is named,
the UTC day, and the reason only for the rules some query reads reasons of). Each figure's
query is then evaluated with `LedgerQuery.matches_fields` over the tally's few thousand keys:
the predicate `evidence verify` runs entry by entry, and exact as long as the queries' bounds
fall on midnight UTC, which the report's date-only period guarantees (checked).

Why not `json.loads` per entry: it measured about 3.5 times the cost of splitting the entry
at its quotes, and an entry is canonical JSON (`AuditEntry.to_bytes`: sorted keys, no spaces),
so with no backslash in it (hence no escaped quote) every string the key needs sits at a known
place among the first and last pieces. Each such entry's shape is checked at its fixed
keys; anything else (an escape, a future version, a tampered body) is decoded with
`json.loads` instead, and both paths give the same key (a test compares them on every entry
shape).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from entrusted.domain.evidence import LedgerQuery
from entrusted.services.outcomes import Outcome

# (rule, decision, action, kind, actor kind, names a grant, day, reason or "")
TallyKey = tuple[str | None, str, str, str, str, bool, str, str]
_RawKey = tuple[bytes | None, bytes, bytes, bytes, bytes, bool, bytes, bytes]

_GRANT_REF = b'"grant":"'  # only ever a key of `refs` (no other object has a `grant` key)
_ALLOWED = b']},"decision":"allow"'  # the actor object (its roles) closes right before it
_DENIED = b']},"decision":"deny"'
_REASON = b',"reason":"'


@dataclass(frozen=True, slots=True)
class Tally:
    """What one scan found: counts per key, and the time of the last verification entry."""

    counts: dict[TallyKey, int]
    scanned: int
    last_verified: str | None


def _split_key(body: bytes, reason_rules: frozenset[bytes]) -> tuple[_RawKey, bytes] | None:
    """The key of a canonical entry without a backslash, and its time; None if not one.

    The pieces at the quotes from the front: `action` at 1 and its value at 3, the actor's
    `id` at 7 and `kind` at 11, its value at 13. From the end: `v`, `time` (its value at -4),
    `rule` (a string, or null), the resource's `owner` (a string, or null) and `kind`, and
    `resource`. The decision is the one right after the actor's roles (`]},`)."""
    p = body.split(b'"', 14)
    if p[1] != b"action" or p[5] != b"actor" or p[7] != b"id" or p[11] != b"kind":
        return None
    t = body.rsplit(b'"', 24)
    if t[-1] != b":1}" or t[-2] != b"v" or t[-6] != b"time":
        return None
    if t[-8] == b"rule" and t[-7] == b":null,":
        r, rule = -8, None
    elif t[-10] == b"rule" and t[-9] == b":":
        r, rule = -10, t[-8]
    else:
        return None
    reason = b""
    if rule in reason_rules:  # the first `"reason":` is the entry's own (keys sort before refs)
        at = body.find(_REASON)
        if at < 0:
            return None
        at += len(_REASON)
        reason = body[at : body.index(b'"', at)]
    if t[r - 1] == b":null},":  # "owner":null
        k, shape = r - 4, t[r - 6] == b"kind" and t[r - 12] == b"resource"
    else:
        k, shape = r - 6, t[r - 4] == b"owner" and t[r - 8] == b"kind" and t[r - 14] == b"resource"
    if not shape:
        return None
    if _ALLOWED in body:
        decision = b"allow"
    elif _DENIED in body:
        decision = b"deny"
    else:
        return None
    stamp = t[-4]
    return (rule, decision, p[3], t[k], p[13], _GRANT_REF in body, stamp[:10], reason), stamp


def _json_key(body: bytes, reason_rules: frozenset[str]) -> tuple[TallyKey, str]:
    e: Any = json.loads(body)
    rule = e["rule"]
    key: TallyKey = (
        rule,
        e["decision"],
        e["action"],
        e["resource"]["kind"],
        e["actor"]["kind"],
        "grant" in e["refs"],
        e["time"][:10],
        e["reason"] if rule in reason_rules else "",
    )
    return key, e["time"]


def _text(raw: _RawKey) -> TallyKey:
    rule, decision, action, kind, actor, granted, day, reason = raw
    return (
        None if rule is None else rule.decode(),
        decision.decode(),
        action.decode(),
        kind.decode(),
        actor.decode(),
        granted,
        day.decode(),
        reason.decode(),
    )


def tally(chunks: Iterable[Sequence[bytes]], reason_rules: frozenset[str]) -> Tally:
    """Read every entry once and count it under its `TallyKey`."""
    raw: dict[_RawKey, int] = {}
    counts: dict[TallyKey, int] = {}
    raw_rules = frozenset(r.encode() for r in reason_rules)
    verified = Outcome.LEDGER_VERIFIED.value.encode()
    last_verified: bytes | str | None = None
    scanned = 0
    get = raw.get
    for chunk in chunks:
        scanned += len(chunk)
        for body in chunk:
            try:
                found = None if b"\\" in body else _split_key(body, raw_rules)
            except (IndexError, ValueError):  # too few pieces, no `decision`: not canonical
                found = None
            if found is not None:
                key, stamp = found
                raw[key] = get(key, 0) + 1
                if key[0] == verified and key[1] == b"allow":
                    last_verified = stamp
                continue
            text_key, when = _json_key(body, reason_rules)
            counts[text_key] = counts.get(text_key, 0) + 1
            if text_key[0] == Outcome.LEDGER_VERIFIED.value and text_key[1] == "allow":
                last_verified = when
    for key, n in raw.items():
        text_key = _text(key)
        counts[text_key] = counts.get(text_key, 0) + n
    last = last_verified.decode() if isinstance(last_verified, bytes) else last_verified
    return Tally(counts, scanned, last)


def _midnight(moment: datetime | None) -> bool:
    return moment is None or moment.astimezone(UTC).timetz().replace(tzinfo=None) == time(0)


def count(query: LedgerQuery, found: Tally) -> int:
    """`query` evaluated over the tally; the same answer as `query.matches` entry by entry."""
    if not (_midnight(query.since) and _midnight(query.until)):
        raise ValueError("a tallied query's bounds must fall on midnight UTC")
    if query.lacking_ref not in (None, "grant"):
        raise ValueError("the tally knows only whether an entry names a grant")
    total = 0
    for (rule, decision, action, kind, actor, granted, day, reason), n in found.counts.items():
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        refs = ("grant",) if granted else ()
        if query.matches_fields(start, rule, decision, action, kind, actor, refs, reason):
            total += n
    return total
