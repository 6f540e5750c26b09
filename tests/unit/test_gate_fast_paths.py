"""The gate's fast paths equal their slow definitions: an id is ledgered as the per-character
definition says, whether or not it takes the printable shortcut."""

from __future__ import annotations

import random

import pytest

from entrusted.services.gate_entries import MAX_ID, ledger_safe

pytestmark = pytest.mark.promise("P3")


def _definition(value: object) -> str:
    if value is None:
        return ""
    return "".join(ch if ch.isprintable() else "?" for ch in str(value)[:MAX_ID])


def test_ledger_safe_matches_its_definition() -> None:
    rng = random.Random(13)
    alphabet = "abcXYZ09_-. é漢\x00\x01\n\t\x7f\u200b\ud800\U0001f600"
    values: list[object] = [None, "", "stf_1", "x" * 200, 42, "\x00" * 70]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(90))) for _ in range(2000)]
    for value in values:
        assert ledger_safe(value) == _definition(value), repr(value)
