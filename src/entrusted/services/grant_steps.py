"""The names a staff step under a grant touched, for the customer's eyes only (P9, P11, P14).

Each step of a staff session under a grant (an FTP listing, download or directory change) is
ledgered by id only: the public ledger must never hold a customer's file names. But the
customer should learn which of their files support opened, so the name is kept beside the
ledger, sealed under the customer's own data key (envelope encryption as the registry does,
`crypto/envelope.py`), with the customer, the grant and the step's ledger index as associated
data: a sealed name copied to another step, grant or customer does not open. The closing
summary of the case (services/consent_notices.py) opens them at delivery, and erasing the
customer's data key shreds them with the rest of their details.

A name is written only after the gate allowed the step (and ledgered it): `record` takes the
index of that ledger entry.

```python
steps = GrantSteps(parts, SqlGrantStepStore(engine))
steps.record(entry.holder_id, entry.grant_id, receipt.index, "retr", "/invoice-2026.pdf")
steps.opened(customer_id, [grant_id])  # {grant_id: [OpenedName(at, "retr", "/invoice-2026.pdf")]}
```
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from entrusted.crypto.envelope import decrypt_field, encrypt_field
from entrusted.crypto.personal import data_key
from entrusted.domain.grant_steps import SealedStep
from entrusted.errors import InvalidInput
from entrusted.services.ports import GrantStepStore
from entrusted.services.registry import RegistryParts, load_customer

MAX_NAME = 4096  # a path as a client may send it; longer is refused, not cut


@dataclass(frozen=True, slots=True)
class OpenedName:
    """One step, opened for the customer: when, which command, which name."""

    at: datetime
    command: str
    name: str


def _field(grant_id: str, ledger_index: int) -> str:
    return f"grant/{grant_id}/step/{ledger_index}/name"


class GrantSteps:
    def __init__(self, registry: RegistryParts, store: GrantStepStore) -> None:
        self._registry = registry
        self._store = store

    def record(
        self, customer_id: str, grant_id: str, ledger_index: int, command: str, name: str
    ) -> None:
        """Seal and keep the name a step touched; Unavailable if it cannot be stored (the
        caller then does not serve the step)."""
        if not 0 < len(name) <= MAX_NAME:
            raise InvalidInput("name", f"a step's name has 1 to {MAX_NAME} characters")
        with self._registry.uow() as uow:
            sealed = load_customer(uow, customer_id)
        dek = data_key(self._registry.keys(), sealed)
        blob = encrypt_field(dek, customer_id, _field(grant_id, ledger_index), name)
        at = self._registry.clock()
        self._store.add(SealedStep(ledger_index, grant_id, customer_id, command[:16], blob, at))

    def opened(self, customer_id: str, grant_ids: Iterable[str]) -> dict[str, list[OpenedName]]:
        """The names steps under these grants touched, in ledger order, by grant; only the
        customer's own (a step filed under another customer is not theirs to read)."""
        steps = [s for s in self._store.for_grants(sorted(set(grant_ids)))
                 if s.customer_id == customer_id]  # fmt: skip
        if not steps:
            return {}
        with self._registry.uow() as uow:
            sealed = load_customer(uow, customer_id)
        dek = data_key(self._registry.keys(), sealed)
        found: dict[str, list[OpenedName]] = {}
        for s in sorted(steps, key=lambda s: s.ledger_index):
            name = decrypt_field(dek, customer_id, _field(s.grant_id, s.ledger_index), s.name)
            found.setdefault(s.grant_id, []).append(OpenedName(s.at, s.command, name))
        return found
