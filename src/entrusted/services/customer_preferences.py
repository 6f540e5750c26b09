"""A customer's language and time zone, for writing a page or a view in them.

Why no gate decision: the two are plain columns beside the sealed record (nothing is
decrypted), choices of presentation rather than personal data, and callers read them only for
the signed-in customer's own id, to dress that customer's own page. Asking the gate (and
ledgering "you read your details") on every page view would bury the customer's history in
entries about the page chrome; the details page itself stays the ledgered read of the record.

```python
mine = read_preferences(parts.read, actor.id)   # actor: the signed-in customer
mine.language, mine.time_zone                   # None where the customer chose nothing
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from entrusted.services.ports import RegistryUnitOfWork


@dataclass(frozen=True, slots=True)
class Preferences:
    language: str | None = None
    time_zone: str | None = None


def read_preferences(read: Callable[[], RegistryUnitOfWork], customer_id: str) -> Preferences:
    """The language and time zone of `customer_id` (none for an unknown id). Only for the
    signed-in customer's own id: see the module doc for why no gate decision is asked."""
    with read() as uow:
        return preferences_in(uow, customer_id)


def preferences_in(uow: RegistryUnitOfWork, customer_id: str) -> Preferences:
    """`read_preferences` inside a unit of work the caller already holds (same rule)."""
    sealed = uow.customers.get(customer_id)
    if sealed is None:
        return Preferences()
    return Preferences(sealed.language, sealed.time_zone)
