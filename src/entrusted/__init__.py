"""Entrusted: a hosting provider's privacy policy, enforced by one gate and proven by a
tamper-evident ledger.

```python
from entrusted import Settings, build
container = build(Settings(data_dir=Path("/srv/entrusted")))
container.staff.add("ana", "Ana Example", ["support"], "a long passphrase")
```
"""

from __future__ import annotations

__version__ = "0.1.0"

from entrusted.bootstrap import Container, build
from entrusted.config import Settings, load_settings
from entrusted.errors import (
    AuthenticationFailed,
    Conflict,
    EntrustedError,
    InvalidInput,
    NotFound,
    RateLimited,
    Refused,
    TamperDetected,
    Unavailable,
)

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "Container",
    "EntrustedError",
    "InvalidInput",
    "NotFound",
    "RateLimited",
    "Refused",
    "Settings",
    "TamperDetected",
    "Unavailable",
    "__version__",
    "build",
    "load_settings",
]
