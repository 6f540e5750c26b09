"""One exception tree for the whole system, translated once per entrypoint.

```
EntrustedError
├── InvalidInput        bad input; names the field; nothing was written
├── NotFound            the named thing does not exist (or is not visible to the actor)
├── Conflict            the request contradicts the current state (duplicate, wrong status)
├── AuthenticationFailed  credentials missing, wrong, expired or revoked
├── RateLimited         too many attempts; retry later
├── Refused             a policy denial; carries the Decision that was ledgered
├── Unavailable         a dependency (database, ledger) cannot do its part; fail closed
└── TamperDetected      stored audit data does not verify; names the first bad index
```

`entrypoints/api/app.py` maps these to HTTP statuses and `entrypoints/cli/main.py` to exit codes,
each in one table. Messages never contain secrets or personal details; ids travel as attributes.
"""

from __future__ import annotations

from typing import Any


class EntrustedError(Exception):
    """Base of every error Entrusted raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(EntrustedError):  # noqa: N818 - the tree names outcomes, not "...Error"
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(EntrustedError):  # noqa: N818
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident!s} not found")
        self.kind = kind
        self.ident = ident


class Conflict(EntrustedError):  # noqa: N818
    pass


class AuthenticationFailed(EntrustedError):  # noqa: N818
    pass


class RateLimited(EntrustedError):  # noqa: N818
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Refused(EntrustedError):  # noqa: N818
    """A policy denial. `decision` is the ledgered Decision value (typed loosely to keep errors
    at the bottom of the import graph)."""

    def __init__(self, decision: Any) -> None:
        reason = getattr(decision, "reason", "refused by policy")
        rule = getattr(decision, "rule_id", None)
        super().__init__(f"refused: {reason}" + (f" (rule {rule})" if rule else ""))
        self.decision = decision


class Unavailable(EntrustedError):  # noqa: N818
    """Nothing was done; trying again is safe. `retry_after_s` is the wait every entrypoint
    tells the caller (the API's `Retry-After`, the pages' too): a busy database or a
    restarting dependency is usually back within a second or two."""

    retry_after_s = 2


class TamperDetected(EntrustedError):  # noqa: N818
    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index
