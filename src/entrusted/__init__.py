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

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from entrusted.bootstrap import Container, build
    from entrusted.config import Settings, load_settings

# The composition root imports every adapter (SQLAlchemy, FastAPI, ...): importing it here made
# every `entrusted --version` pay for all of them. These names load on first use instead (PEP 562).
_LAZY = {
    "Container": "entrusted.bootstrap",
    "build": "entrusted.bootstrap",
    "Settings": "entrusted.config",
    "load_settings": "entrusted.config",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'entrusted' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


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
