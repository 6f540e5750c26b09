"""Where a secret may go in plain text: the one rule every sender of a password or token uses.

A password or bearer token goes over `http://` (or SMTP, IMAP without TLS) only to a loopback
host, which never leaves this machine; anywhere else it would cross a network unencrypted.
Loopback is allowed because a local relay or gateway (and every test server) is reached
without crossing a network.

Why no DNS: the rule is about the name as written. A name that resolves to 127.0.0.1 today
may resolve elsewhere tomorrow (or on the host that makes the call: Dovecot's, not this one),
and a lookup at check time says nothing about the lookup at send time. So only `localhost`
and loopback address literals count (127.0.0.0/8, ::1), with or without IPv6 brackets.

```python
is_loopback("127.0.0.2"), is_loopback("[::1]"), is_loopback("mail.example.com")
# True, True, False
token_may_travel("http://localhost:8431/v1/gate/mail-login")          # True
token_may_travel("http://10.0.0.11:8431/v1/gate/mail-login")          # False: use https://
```
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback", "token_may_travel"]


def is_loopback(host: str) -> bool:
    """True for a host name or address that never leaves this machine (see the module doc)."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):  # an IPv6 literal as a URL writes it
        name = name[1:-1]
    name = name.rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def token_may_travel(url: str) -> bool:
    """Whether a password or bearer token may be sent to `url`: over `https://` to any host,
    over `http://` only to a loopback host; never over another scheme or without a host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unbalanced [ in the host, say
        return False
    if not host:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback(host)
