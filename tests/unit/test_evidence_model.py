"""The evidence report's model (issue 19), pure: the one-scan tally gives every figure exactly
what `LedgerQuery.matches` gives entry by entry (the predicate `evidence verify` recounts
with), the report and its queries survive JSON, and a malformed manifest is refused naming
what is wrong."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.audit import AuditEntry
from entrusted.domain.evidence import LedgerQuery, parse_manifest
from entrusted.services.evidence import period
from entrusted.services.evidence_figures import count, figure_specs, reason_rules, tally
from entrusted.services.evidence_tally import _json_key, _split_key
from entrusted.services.outcomes import Outcome

pytestmark = pytest.mark.promise("P3")

SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


WHYS = ["why", 'said "no"', "back\\slash", "Zoë: grüezi", 'x","rule":"fake', "decision"]
REFS: list[dict[str, str]] = [
    {},
    {"grant": "grt_1"},
    {"case": "cas_1", "grant": "grt_2"},
    {"note": '"grant":"x'},
    {"note": "grant"},
]


def random_entries(n: int, seed: int = 7) -> list[AuditEntry]:
    rnd = random.Random(seed)
    rules = [o.value for o in Outcome] + ["mailbox-closed-to-staff", None]
    kinds = ["mailbox_content", "ftp_space", "backup", "grant", "mailbox_metadata"]
    ends = ["grant ended: case_resolved", "grant ended: revoked", "grant ended: expired", "x"]
    entries = []
    for _ in range(n):
        rule = rnd.choice(rules)
        entries.append(
            AuditEntry(
                time=SINCE + timedelta(days=rnd.uniform(-10, 40)),
                actor_kind=rnd.choice(["staff", "customer", "service", "third_party"]),
                actor_id="a",
                action=rnd.choice(["read", "enter", "list_metadata", "delete", "create"]),
                resource_kind=rnd.choice(kinds),
                resource_id="r",
                decision=rnd.choice(["allow", "deny"]),
                reason=rnd.choice(ends) if rule == Outcome.GRANT_ENDED.value else rnd.choice(WHYS),
                nonce=rnd.randbytes(32),
                rule=rule,
                refs=rnd.choice(REFS),
                owner=rnd.choice([None, "cus_1", 'odd "owner"']),
                actor_roles=rnd.choice([(), ("support",), ("support", "sysadmin")]),
            )
        )
    return entries


def test_the_tally_counts_what_matches_counts() -> None:
    entries = random_entries(3000)
    specs = figure_specs(load_rules(DEFAULT_RULES_PATH), SINCE, UNTIL)
    bodies = [e.to_bytes() for e in entries]
    found = tally([bodies[:1000], bodies[1000:]], reason_rules(specs))
    assert found.scanned == len(entries)
    for spec in specs:
        expected = sum(1 for e in entries if spec.query.matches(e))
        assert count(spec.query, found) == expected, spec.key
    assert sum(1 for e in entries if GRANT_ENDED_RESOLVED.matches(e)) > 0


GRANT_ENDED_RESOLVED = LedgerQuery(
    rules=frozenset({Outcome.GRANT_ENDED.value}),
    reasons=frozenset({"grant ended: case_resolved"}),
    since=SINCE,
    until=UNTIL,
)


def test_both_decodings_give_the_same_key() -> None:
    """The split fast path and `json.loads` agree on every entry shape, escapes included."""
    rules = frozenset({Outcome.GRANT_ENDED.value})
    for entry in random_entries(2000, seed=11):
        body = entry.to_bytes()
        fast = tally([[body]], rules).counts
        slow = {_json_key(body, rules)[0]: 1}
        assert fast == slow, body
    plain = frozenset({b"consent.grant-ended"})
    fast = [_split_key(e.to_bytes(), plain) for e in random_entries(500, seed=11)]
    assert sum(k is not None for k in fast) > 50  # the fast path is exercised


def test_a_query_survives_json_and_says_what_it_counts() -> None:
    q = LedgerQuery(
        rules=frozenset({"consent.granted"}),
        effects=frozenset({"allow"}),
        lacking_ref="grant",
        since=SINCE,
        until=UNTIL,
    )
    assert LedgerQuery.from_json(json.loads(json.dumps(q.to_json()))) == q
    text = q.describe()
    assert "rule = consent.granted" in text
    assert "no grant in refs" in text
    assert "time < 2026-12-01" in text


def test_untallyable_queries_are_refused() -> None:
    found = tally([], frozenset())
    with pytest.raises(ValueError, match="midnight"):
        count(LedgerQuery(since=SINCE + timedelta(hours=1)), found)
    with pytest.raises(ValueError, match="grant"):
        count(LedgerQuery(lacking_ref="case"), found)


GOOD: dict[str, Any] = {
    "format": "entrusted-test-manifest/1",
    "run_id": "r1",
    "started": "2026-11-30T10:00:00+00:00",
    "finished": "2026-11-30T10:01:00+00:00",
    "commit": None,
    "tests": [{"id": "t::a", "promises": ["P11"], "outcome": "passed"}],
    "expected": ["t::a", {"id": "t::gone", "promises": ["P16"]}],
}


def test_a_manifest_is_parsed_and_summarised() -> None:
    m = parse_manifest(GOOD)
    assert m.missing() == ("t::gone",)
    assert m.expected_promises == {"t::gone": ("P16",)}
    assert (m.summary().passed, m.summary().failed) == (1, 0)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"format": "x"}, "not an entrusted-test-manifest/1"),
        ({"run_id": ""}, "run_id"),
        ({"started": "yesterday"}, "Invalid isoformat"),
        ({"started": "2026-11-30T10:00:00"}, "time zone"),
        ({"tests": [{"id": "t", "promises": ["P99"], "outcome": "passed"}]}, "unknown promises"),
        ({"tests": [{"id": "t", "promises": [], "outcome": "flaky"}]}, "outcome"),
        ({"expected": [3]}, "expected test"),
    ],
)
def test_a_malformed_manifest_is_refused(change: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_manifest({**GOOD, **change})


def test_a_period_is_whole_days_forward() -> None:
    assert period(date(2026, 11, 1), date(2026, 12, 1)) == (SINCE, UNTIL)
