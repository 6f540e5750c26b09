"""How the gate writes its entries: a validated request's fields as they are, a refused
one's read defensively, and every append failing closed.

Split from `gate` so that module keeps the decision; these are the pieces each entry needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Decision, Role
from entrusted.errors import EntrustedError, Unavailable

MAX_ID = 64
# Each role set's ledger spelling, sorted once (there are at most 2^len(Role) of them).
_ROLE_NAMES: dict[frozenset[Role], tuple[str, ...]] = {}


def refused_entry(
    time: datetime,
    nonce: bytes,
    actor: object,
    action: str,
    resource: object,
    context: object,
    denial: Decision,
) -> AuditEntry:
    """The entry of a request the gate refused as invalid: anything may be wrong in it, so
    each part is read defensively and made ledger-safe (the refusal itself is always
    ledgered)."""
    refs = getattr(context, "refs", None)
    given = refs if isinstance(refs, Mapping) else {}
    return AuditEntry(
        time=time,
        actor_kind=str(getattr(getattr(actor, "kind", None), "value", "unknown")),
        actor_id=ledger_safe(getattr(actor, "id", "")) or "unknown",
        actor_roles=_role_names(getattr(actor, "roles", ())),
        action=ledger_safe(action),
        resource_kind=str(getattr(getattr(resource, "kind", None), "value", "unknown")),
        resource_id=ledger_safe(getattr(resource, "id", "")) or "unknown",
        owner=ledger_safe(getattr(resource, "owner", None)) or None,
        decision="deny",
        rule=denial.rule_id,
        reason=denial.reason,
        refs={k: ledger_safe(v) for k, v in given.items()},
        nonce=nonce,
    )


def durably(append: Callable[..., Any], *args: Any) -> Any:
    """Run a ledger append; whatever breaks, the caller gets `Unavailable` (fail closed: an
    access whose record did not commit never happens)."""
    try:
        return append(*args)
    except Unavailable:
        raise
    except EntrustedError as exc:
        raise Unavailable(f"the decision could not be audited ({exc.message}); refused") from None
    except Exception as exc:  # noqa: BLE001 - whatever broke, an unaudited access is refused
        raise Unavailable(
            f"the decision could not be audited ({type(exc).__name__}); refused"
        ) from None


def role_names_of(roles: frozenset[Role]) -> tuple[str, ...]:
    """A validated role set's ledger spelling, sorted once per set."""
    names = _ROLE_NAMES.get(roles)
    if names is None:
        names = _ROLE_NAMES.setdefault(roles, tuple(sorted(map(str, roles))))
    return names


def is_id(value: object) -> bool:
    """An id the gate accepts: a plain `str` of 1-64 printable characters. Not a subclass:
    one whose `__str__` or `__eq__` says something else would be checked as one id (by the
    staff directory, by ownership) and ledgered as another. Anything else is an invalid
    request, ledgered as such, never a `TypeError` that escapes unrecorded."""
    return type(value) is str and 0 < len(value) <= MAX_ID and value.isprintable()


MAX_REASON = 8000  # well inside an entry (65,535 bytes) with every other field at its limit


def is_reason(value: object) -> bool:
    """An outcome's reason the ledger can hold and a terminal can show: a plain `str` of at
    most 8,000 characters, printable but for newlines and tabs (no NUL, no escape sequences,
    no lone surrogates)."""
    if type(value) is not str or len(value) > MAX_REASON:
        return False
    return value.isprintable() or value.replace("\n", " ").replace("\t", " ").isprintable()


def printable(value: str) -> bool:
    """Ids are printable text: no NUL (PostgreSQL text cannot hold it), no control characters
    and no lone surrogates, so every id the gate accepts can be ledgered as given."""
    return value.isprintable()  # False for NUL, control characters and lone surrogates


def _role_names(roles: object) -> tuple[str, ...]:
    """The roles of a refused request as the ledger can hold them, whatever was passed."""
    if not isinstance(roles, frozenset | set | tuple | list):
        return ()
    return tuple(sorted(ledger_safe(getattr(r, "value", r)) for r in roles))


def ledger_safe(value: object) -> str:
    """An id as the ledger can hold it, for recording a request the gate refused as invalid:
    unprintable characters become `?` and the length is capped, so the refusal itself is
    always ledgered (never a 503 for a malformed id)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = str.__str__(value)[:MAX_ID]  # the characters, whatever a subclass's __str__ says
    else:
        try:
            text = str(value)[:MAX_ID]
        except Exception:  # noqa: BLE001 - a huge int, a raising __str__: the refusal still stands
            return "?"
    if text.isprintable():  # every valid id: no per-character pass on the hot path
        return text
    return "".join(ch if printable(ch) else "?" for ch in text)
