"""Which routes a listener serves: the public API and portal, or the internal hooks the mail
and FTP servers call (their login gates), or both on one listener for a one-machine install.

The hooks answer staff logins with a service token; nobody on the internet needs to reach
them, so a split installation keeps them on a loopback or private address (`hooks_listen`),
where a leaked token alone is not enough to try passwords against the gate. Both apps come
from the one `create_app` (listeners.py). This module stays free of FastAPI: `serve --role`
takes `Role` from it, and `--help` loads nothing heavy. See docs/deploy.md.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

from entrusted.errors import InvalidInput


class Role(StrEnum):
    """`serve --role`: what one listener serves."""

    ALL = "all"  # everything on one listener (one machine, no split)
    PUBLIC = "public"  # the API and portal, without the internal hooks (they answer 404)
    HOOKS = "hooks"  # the internal hooks and the health routes only


def check_hooks_host(host: str, allow_public: bool) -> None:
    """Refuse to put the hooks on an address the internet may reach, unless the operator
    said so (`hooks_allow_public_address`)."""
    if allow_public or host == "localhost":
        return
    advice = "give a loopback or private address, or set hooks_allow_public_address = true"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInput("hooks_listen", f"{host} is a host name; {advice}") from None
    if ip.is_unspecified:
        raise InvalidInput(
            "hooks_listen", f"{host} listens on every interface, public ones too; {advice}"
        )
    if not (ip.is_loopback or ip.is_private):
        raise InvalidInput("hooks_listen", f"{host} is a public address; {advice}")
