"""An entry's fast canonical bytes (`AuditEntry.to_bytes`) equal the definition,
`canonical_bytes(entry.to_json())`, for any text in any field (quotes, backslashes, control
characters, every plane, lone surrogates that neither can encode) and for fields of other
types than declared, which the fast path hands to the definition. A planted difference (one
space) is caught by the same comparison."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrusted.domain.audit import AuditEntry, canonical_bytes

pytestmark = pytest.mark.promise("P3")

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # with Cs
SOME_TEXT = st.text(max_size=12)


def _entry(**fields: object) -> AuditEntry:
    base: dict[str, object] = {
        "time": datetime(2026, 12, 1, 6, 30, tzinfo=UTC),
        "actor_kind": "staff",
        "actor_id": "stf_0123456789abcdef",
        "action": "read",
        "resource_kind": "mailbox_content",
        "resource_id": "mbx_0123456789abcdef",
        "decision": "deny",
        "reason": "closed to staff",
        "nonce": bytes(range(32)),
    }
    base.update(fields)
    return AuditEntry(**base)  # type: ignore[arg-type]  # fields of any type, on purpose


def _same(entry: AuditEntry) -> None:
    try:
        want: bytes | type[BaseException] = canonical_bytes(entry.to_json())
    except (UnicodeEncodeError, TypeError) as exc:
        want = type(exc)
    try:
        got: bytes | type[BaseException] = entry.to_bytes()
    except (UnicodeEncodeError, TypeError) as exc:
        got = type(exc)
    assert got == want


@settings(max_examples=400, deadline=None)
@given(
    texts=st.lists(st.one_of(ANY_TEXT, SOME_TEXT), min_size=7, max_size=7),
    roles=st.lists(SOME_TEXT, max_size=3),
    refs=st.dictionaries(SOME_TEXT, ANY_TEXT, max_size=4),
    owner=st.none() | ANY_TEXT,
    rule=st.none() | SOME_TEXT,
    offset=st.integers(-14 * 60, 14 * 60),
    micro=st.integers(0, 999_999),
    nonce=st.binary(min_size=32, max_size=32),
)
def test_fast_bytes_equal_the_definition(
    texts: list[str],
    roles: list[str],
    refs: dict[str, str],
    owner: str | None,
    rule: str | None,
    offset: int,
    micro: int,
    nonce: bytes,
) -> None:
    zone = timezone(timedelta(minutes=offset))
    entry = _entry(
        time=datetime(2026, 12, 1, 6, 30, 5, micro, tzinfo=zone),
        actor_kind=texts[0],
        actor_id=texts[1],
        action=texts[2],
        resource_kind=texts[3],
        resource_id=texts[4],
        decision="allow" if len(texts[5]) % 2 else "deny",
        reason=texts[6],
        actor_roles=tuple(roles),
        owner=owner,
        rule=rule,
        refs=refs,
        nonce=nonce,
    )
    _same(entry)


@pytest.mark.parametrize(
    "fields",
    [
        {"refs": {"case": 7}},  # a number where text belongs
        {"refs": {1: "x", "a": "y"}},  # keys that cannot be sorted together
        {"owner": 12},
        {"rule": ["x"]},
        {"actor_roles": ("support", None)},
        {"reason": "\ud800"},  # a lone surrogate: neither can encode it
        {"refs": {"note": 'a "quoted" \\ line\nbreak \x00 \u2028'}},
    ],
)
def test_other_types_take_the_definitions_path(fields: dict[str, object]) -> None:
    _same(_entry(**fields))


def test_a_planted_difference_is_caught() -> None:
    entry = _entry(refs={"case": "cas_1"}, owner="cus_1", rule="r")
    spaced = json.dumps(entry.to_json(), sort_keys=True, ensure_ascii=False).encode()
    assert entry.to_bytes() == canonical_bytes(entry.to_json())
    assert entry.to_bytes() != spaced
