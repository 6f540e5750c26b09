"""Finding a hosted service (a mailbox, an FTP space) by the keyed blind index of its name:
the stored names are encrypted, so nobody decrypts every service's name to find one. The one
look-up the mail monitor (`mailbox_monitor.find_mailbox`) and the FTP space
(`ftp_space.find_ftp_space`) share; each computes the index of its own kind of name.

```python
found = find_hosted(parts, email_index(key, "info@example.org"))  # (contract, service) | None
```
"""

from __future__ import annotations

from entrusted.domain.registry import StoredContract, StoredService
from entrusted.services.registry import RegistryParts


def find_hosted(parts: RegistryParts, idx: bytes) -> tuple[StoredContract, StoredService] | None:
    """The contract and its service whose name has this blind index, or None."""
    with parts.read() as uow:
        contract = uow.contracts.by_mailbox_index(idx)
    if contract is None:
        return None
    service = next((s for s in contract.services if s.name_idx == idx), None)
    return None if service is None else (contract, service)
