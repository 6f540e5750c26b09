"""Master-key rotation (P2): re-wrap every customer's data key under a new master key.

Only the small wrapped data keys change; the encrypted fields stay byte-for-byte as they are,
because the data keys themselves do not change. So a rotation of 100,000 customers rewrites
100,000 short values, not half a million ciphertexts, and a backup taken mid-way is still fully
readable with the two master keys.

Crash safety comes from the data rather than from a journal: each row says which master key
wrapped it, every change is a compare-and-set of one row, and a run only ever asks for rows
still wrapped by some other key. A run that dies after any number of rows is finished by simply
running it again; rows already under the new key are never read or rewritten. The old master
key is needed until, and only until, `RotationReport.complete` is true.

Run it after the application has switched to the new key as current (keeping the old one on
its keyring to read), so that no new rows appear under the old key while it runs; a row that
does appear anyway is left for the next run and reported in `remaining`.

```python
report = rotate(store, Keyring(new_kek, [old_kek]), new_kek, progress=bar.update)
if report.complete:
    ...  # the old master key may now be destroyed
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from entrusted.crypto.envelope import Keyring, MasterKey, WrappedKey, rewrap
from entrusted.errors import InvalidInput, Unavailable

DEFAULT_BATCH_SIZE = 500
Progress = Callable[[int, int], None]
"""Called after each batch with (rows handled so far in this run, rows pending at its start)."""


class WrappedKeyStore(Protocol):
    """Where the customers' wrapped data keys live (the registry table, or its in-memory twin
    `services.memory_keys.InMemoryWrappedKeyStore`)."""

    def count_by_kek(self) -> dict[str, int]:
        """How many data keys each master key id currently wraps."""
        ...

    def batch_wrapped_by(
        self, kek_id: str, limit: int, after: str | None = None
    ) -> list[tuple[str, WrappedKey]]:
        """Up to `limit` (customer id, wrapped key) pairs still wrapped by `kek_id`, in customer
        id order, starting after the customer id `after` (keyset paging: a row skipped for a
        lost compare-and-set is not offered again in the same run, so a run always ends)."""
        ...

    def replace(self, customer_id: str, old: WrappedKey, new: WrappedKey) -> bool:
        """Store `new` for the customer only if it still holds exactly `old`, atomically and
        durably; False (and no change) if the row changed or is gone."""
        ...


@dataclass(frozen=True)
class RotationReport:
    """What one run did, and whether the old master keys are still needed."""

    new_kek_id: str
    already_current: int  # rows under the new key before this run (a restart sees these)
    rewrapped: int  # rows this run moved to the new key
    conflicts: int  # rows changed by someone else while this run looked at them
    remaining: Mapping[str, int]  # rows still under another key after this run, by key id

    @property
    def complete(self) -> bool:
        """True when no data key needs any old master key any more."""
        return not self.remaining


def rotate(
    store: WrappedKeyStore,
    old_keyring: Keyring,
    new_kek: MasterKey,
    progress: Progress | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RotationReport:
    """Re-wrap every data key not yet under `new_kek`, batch by batch (see module doc).

    `old_keyring` must hold every master key that still wraps something, and this is checked
    before anything is written: a rotation that stopped half-way for lack of a key would leave
    the operator believing the old keys could go. Unavailable names the missing key ids, and
    whatever the store raises (a dead database) propagates, leaving a state the next run
    finishes. TamperDetected from a row that does not unwrap also stops the run: that row
    needs a person, and re-wrapping around it would hide it.
    """
    if batch_size < 1:
        raise InvalidInput("batch size", "must be at least 1")
    counts = store.count_by_kek()
    pending = {kek_id: n for kek_id, n in counts.items() if kek_id != new_kek.kek_id and n > 0}
    missing = sorted(kek_id for kek_id in pending if old_keyring.get(kek_id) is None)
    if missing:
        raise Unavailable(
            f"data keys are wrapped by master key(s) {', '.join(missing)}, which are not "
            "loaded; load every old master key before rotating"
        )
    total = sum(pending.values())
    rewrapped = conflicts = 0
    for kek_id in sorted(pending):
        after: str | None = None
        while batch := store.batch_wrapped_by(kek_id, batch_size, after):
            for customer_id, wrapped in batch:
                if store.replace(customer_id, wrapped, rewrap(old_keyring, wrapped, new_kek)):
                    rewrapped += 1
                else:
                    conflicts += 1
            after = batch[-1][0]
            if progress is not None:
                progress(rewrapped + conflicts, total)
    remaining = {
        kek_id: n
        for kek_id, n in sorted(store.count_by_kek().items())
        if kek_id != new_kek.kek_id and n > 0
    }
    return RotationReport(
        new_kek_id=new_kek.kek_id,
        already_current=counts.get(new_kek.kek_id, 0),
        rewrapped=rewrapped,
        conflicts=conflicts,
        remaining=remaining,
    )
