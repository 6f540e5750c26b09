"""Staff members and their credentials as values (P8: only roles grant technical access).

A staff member holds one or more roles; the policy decides what each role may do. Tokens are
random secrets shown once; only their SHA-256 is stored, so a database leak yields no usable
credential.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from entrusted.domain.policy import Role
from entrusted.errors import InvalidInput

USERNAME_RE = re.compile(r"^[a-z][a-z0-9._-]{1,62}$")
MIN_PASSWORD_LENGTH = 12


class TokenKind(StrEnum):
    PERSONAL = "personal"
    SERVICE = "service"


class ServiceName(StrEnum):
    """Integrations that call the API with a scoped service token."""

    SIGNUP = "signup"  # the provider's signup site registers customers
    MAIL_HOOK = "mail_hook"  # the Dovecot Lua passdb asks the gate about staff logins
    FTP_SERVER = "ftp_server"  # the FTP authorizer asks the gate about staff entries
    PROVISIONING = "provisioning"  # the hoster's provisioning system syncs customers, services


@dataclass(frozen=True, slots=True)
class StaffMember:
    id: str
    username: str
    display_name: str
    roles: frozenset[Role]
    created_at: datetime
    totp_enabled: bool = False
    disabled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    kind: TokenKind
    label: str
    created_at: datetime
    expires_at: datetime
    staff_id: str | None = None
    service: ServiceName | None = None
    revoked_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            "username",
            "must be 2-63 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter",
        )
    return username


def validate_display_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("display_name", "must be 1-200 characters")
    return name


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise InvalidInput("password", "must be at most 1024 characters")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        # NUL, newlines, tabs: no keyboard types them into a login form or an FTP client,
        # and NUL cannot be sent in FTP's PASS line at all.
        raise InvalidInput("password", "must not contain control characters")
    return password


def parse_roles(raw: list[str] | tuple[str, ...] | set[str]) -> frozenset[Role]:
    if not raw:
        raise InvalidInput("roles", "a staff member needs at least one role")
    roles = set()
    for value in raw:
        try:
            roles.add(Role(value))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInput("roles", f"unknown role {value!r} (allowed: {allowed})") from None
    return frozenset(roles)
