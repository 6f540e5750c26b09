"""Transaction advisory locks on PostgreSQL keyed by text (a login account, a staff member's
look-ups). The key is hashed here, in Python, to the 64-bit integer `pg_advisory_xact_lock`
takes: the text itself never reaches the server, so text PostgreSQL cannot hold (a NUL typed
into a login form) cannot fail the query, and 64 bits make unrelated keys colliding (which
would only make them wait for each other) far less likely than `hashtext`'s 32.

```python
hold_xact_lock(conn, "login-account:sam")   # released at the transaction's commit or rollback
```
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa


def advisory_key(text: str) -> int:
    """A signed 64-bit key for `text` (BLAKE2b; lone surrogates hashed as they are)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def hold_xact_lock(conn: sa.Connection, text: str) -> None:
    """Wait for, then hold until the transaction ends, the advisory lock named by `text`."""
    key = sa.cast(sa.bindparam("key", advisory_key(text)), sa.BigInteger)
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def storable(text: str) -> str:
    """`text` with each NUL as U+FFFD, the replacement character (same length, so a value cut
    to its column still fits): PostgreSQL text cannot hold NUL, and a name typed into a login
    form must still be counted, as itself near enough."""
    return text.replace("\x00", "\ufffd")
