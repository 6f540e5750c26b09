"""In-memory twin of `services.keys.WrappedKeyStore`, for fast tests of rotation and of the
registry's use of data keys. Same contract as the database table: customer-id order, keyset
paging, compare-and-set replace, and `fail_after` to die like a database mid-rotation."""

from __future__ import annotations

from collections import Counter

from entrusted.crypto.envelope import WrappedKey
from entrusted.errors import Conflict, Unavailable


class InMemoryWrappedKeyStore:
    """Wrapped data keys by customer id.

    >>> store = InMemoryWrappedKeyStore()
    >>> store.add("cus_1", WrappedKey("66687aad", b"..."))
    >>> store.count_by_kek()
    {'66687aad': 1}
    """

    def __init__(self) -> None:
        self.rows: dict[str, WrappedKey] = {}
        self.fail_after: int | None = None  # successful replaces allowed before a "crash"
        self.replaces = 0

    def add(self, customer_id: str, wrapped: WrappedKey) -> None:
        if customer_id in self.rows:
            raise Conflict(f"customer {customer_id} already has a data key")
        self.rows[customer_id] = wrapped

    def get(self, customer_id: str) -> WrappedKey | None:
        return self.rows.get(customer_id)

    def delete(self, customer_id: str) -> None:
        self.rows.pop(customer_id, None)

    def count_by_kek(self) -> dict[str, int]:
        return dict(Counter(w.kek_id for w in self.rows.values()))

    def batch_wrapped_by(
        self, kek_id: str, limit: int, after: str | None = None
    ) -> list[tuple[str, WrappedKey]]:
        rows = sorted(
            (cid, w)
            for cid, w in self.rows.items()
            if w.kek_id == kek_id and (after is None or cid > after)
        )
        return rows[:limit]

    def replace(self, customer_id: str, old: WrappedKey, new: WrappedKey) -> bool:
        if self.fail_after is not None and self.replaces >= self.fail_after:
            raise Unavailable("wrapped key store unavailable")
        if self.rows.get(customer_id) != old:
            return False
        self.rows[customer_id] = new
        self.replaces += 1
        return True
