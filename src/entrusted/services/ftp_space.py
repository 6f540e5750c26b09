"""Finding an FTP backup space by its account name (P9): through its keyed blind index, so
nobody decrypts every space's name to find one. Shared by every service that is handed an
account name (the space's sizes for support; the FTP login can use it too), in a module of
its own so that none of them has to import another.

```python
found = find_ftp_space(registry, "office-backup")    # Target(service_id, contract) or None
```
"""

from __future__ import annotations

from entrusted.crypto.blind_index import ftp_space_index
from entrusted.errors import InvalidInput
from entrusted.services.grant_entry import Target
from entrusted.services.hosted import find_hosted
from entrusted.services.registry import RegistryParts


def find_ftp_space(parts: RegistryParts, name: str) -> Target | None:
    """The hosted FTP space with this account name; None for a name that is no account name
    or names no space."""
    try:
        idx = ftp_space_index(parts.keys().index_key, name)
    except InvalidInput:
        return None
    found = find_hosted(parts, idx)
    return None if found is None else Target(found[1].id, found[0])
