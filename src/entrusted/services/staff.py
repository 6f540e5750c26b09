"""Staff identities and authentication (P8, P14).

Every credential check resolves to an `Actor`; nothing else in the system trusts a username.
Failed logins are counted per account and per client address, and lock out further attempts
for a window, so password guessing against the staff who hold the keys to customer data is slow.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from entrusted.crypto.secrets import (
    DUMMY_PASSWORD_HASH,
    hash_password,
    new_id,
    new_token,
    token_digest,
    verify_password,
)
from entrusted.crypto.totp import new_totp_secret, provisioning_uri, verify_totp
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.staff import (
    ApiToken,
    ServiceName,
    StaffMember,
    TokenKind,
    parse_roles,
    validate_display_name,
    validate_password,
    validate_username,
)
from entrusted.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, RateLimited
from entrusted.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The plaintext `secret` exists only in this value: it is shown once and never stored."""

    secret: str
    token: ApiToken


class StaffService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        limits: LoginLimits | None = None,
        ids: Callable[[str], str] = new_id,
        default_token_ttl: timedelta = timedelta(days=90),
        password_cache_ttl: timedelta = timedelta(0),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._limits = limits or LoginLimits()
        self._ids = ids
        self._default_ttl = default_token_ttl
        self._password_cache_ttl = password_cache_ttl
        self._password_cache: dict[str, tuple[bytes, datetime]] = {}
        self._cache_key = secrets.token_bytes(32)  # per process: nothing to steal from disk

    def add(self, username: str, display_name: str, roles: list[str], password: str) -> StaffMember:
        member = StaffMember(
            id=self._ids("stf"),
            username=validate_username(username),
            display_name=validate_display_name(display_name),
            roles=parse_roles(roles),
            created_at=self._clock(),
        )
        password_hash = hash_password(validate_password(password))
        with self._uow() as uow:
            if uow.staff.by_username(member.username) is not None:
                raise Conflict(f"staff member {member.username!r} already exists")
            uow.staff.add(member, password_hash)
            uow.commit()
        return member

    def list_members(self) -> list[StaffMember]:
        with self._uow() as uow:
            return uow.staff.all()

    def get(self, username: str) -> StaffMember:
        with self._uow() as uow:
            return self._require(uow.staff.by_username(username), username)

    @staticmethod
    def _require(member: StaffMember | None, username: str) -> StaffMember:
        if member is None:
            raise NotFound("staff member", username)
        return member

    def disable(self, username: str) -> StaffMember:
        """Disabling also revokes every token at once: a departing employee keeps nothing."""
        now = self._clock()
        with self._uow() as uow:
            member = self._require(uow.staff.by_username(username), username)
            if not member.active:
                raise Conflict(f"staff member {username!r} is already disabled")
            uow.staff.set_disabled(member.id, now)
            uow.tokens.revoke_all_for_staff(member.id, now)
            uow.commit()
            refreshed = uow.staff.get(member.id)
        assert refreshed is not None
        return refreshed

    def enroll_totp(self, username: str) -> str:
        """Store a fresh secret (not yet active) and return its provisioning URI."""
        secret = new_totp_secret()
        with self._uow() as uow:
            member = self._require(uow.staff.by_username(username), username)
            uow.staff.set_totp(member.id, secret, enabled=False)
            uow.commit()
        return provisioning_uri(secret, username)

    def confirm_totp(self, username: str, code: str) -> None:
        with self._uow() as uow:
            member = self._require(uow.staff.by_username(username), username)
            secret = uow.staff.totp_secret(member.id)
            if secret is None:
                raise Conflict("no TOTP enrolment in progress; run enrol first")
            if not verify_totp(secret, code, self._clock().timestamp()):
                raise InvalidInput("code", "does not match the enrolled authenticator")
            uow.staff.set_totp(member.id, secret, enabled=True)
            uow.commit()

    def issue_token(self, username: str, label: str, ttl_days: int | None = None) -> IssuedToken:
        with self._uow() as uow:
            member = self._require(uow.staff.by_username(username), username)
        return self.issue_token_for(member.id, label, ttl_days)

    def issue_token_for(
        self, staff_id: str, label: str, ttl_days: int | None = None
    ) -> IssuedToken:
        with self._uow() as uow:
            member = self._require(uow.staff.get(staff_id), staff_id)
            username = member.username
            if not member.active:
                raise Conflict(f"staff member {username!r} is disabled")
            issued = self._new_token(TokenKind.PERSONAL, label, ttl_days, staff_id=member.id)
            uow.tokens.add(issued.token, token_digest(issued.secret))
            uow.commit()
        return issued

    def issue_service_token(
        self, service: str, label: str, ttl_days: int | None = None
    ) -> IssuedToken:
        try:
            name = ServiceName(service)
        except ValueError:
            allowed = ", ".join(s.value for s in ServiceName)
            raise InvalidInput(
                "service", f"unknown service {service!r} (allowed: {allowed})"
            ) from None
        issued = self._new_token(TokenKind.SERVICE, label, ttl_days, service=name)
        with self._uow() as uow:
            uow.tokens.add(issued.token, token_digest(issued.secret))
            uow.commit()
        return issued

    def _new_token(
        self,
        kind: TokenKind,
        label: str,
        ttl_days: int | None,
        staff_id: str | None = None,
        service: ServiceName | None = None,
        ttl: timedelta | None = None,
    ) -> IssuedToken:
        label = label.strip()
        if not 1 <= len(label) <= 200:
            raise InvalidInput("label", "must be 1-200 characters")
        if ttl is None:
            if ttl_days is not None and not 1 <= ttl_days <= 3650:
                raise InvalidInput("ttl_days", "must be between 1 and 3650")
            ttl = timedelta(days=ttl_days) if ttl_days else self._default_ttl
        now = self._clock()
        token = ApiToken(
            id=self._ids("tok"),
            kind=kind,
            label=label,
            created_at=now,
            expires_at=now + ttl,
            staff_id=staff_id,
            service=service,
        )
        return IssuedToken(secret=new_token(), token=token)

    def tokens(self, username: str) -> list[ApiToken]:
        with self._uow() as uow:
            member = self._require(uow.staff.by_username(username), username)
            return uow.tokens.list_for_staff(member.id)

    def revoke_token(self, token_id: str) -> None:
        with self._uow() as uow:
            token = uow.tokens.get(token_id)
            if token is None:
                raise NotFound("token", token_id)
            if token.revoked_at is not None:
                raise Conflict(f"token {token_id} is already revoked")
            uow.tokens.revoke(token_id, self._clock())
            uow.commit()

    def login(
        self, username: str, password: str, totp_code: str | None, address: str
    ) -> IssuedToken:
        """Exchange a password (and TOTP code, once enrolled) for a 12-hour session token."""
        now = self._clock()
        with self._uow() as uow:
            member = self._verify(uow, username, password, totp_code, address, now)
            issued = self._new_token(
                TokenKind.PERSONAL, "login session", None, staff_id=member.id, ttl=SESSION_TTL
            )
            uow.tokens.add(issued.token, token_digest(issued.secret))
            uow.login_failures.clear_account(username)
            uow.commit()
        return issued

    def check_password(self, username: str, password: str, address: str) -> Actor:
        """A password alone, for a server that cannot ask for a TOTP code (the IMAP staff
        login, which also needs the customer's grant): the same rate limits and failure
        records as `login`. A recent success is remembered as a keyed digest of (stored hash,
        password) for `password_cache_ttl`, so an IMAP client's reconnects do not each pay
        argon2; a changed password or a disabled account misses that cache."""
        now = self._clock()
        with self._uow() as uow:
            member = self._verify(uow, username, password, None, address, now, totp=False)
            uow.commit()
        return Actor(kind=ActorKind.STAFF, id=member.id, roles=member.roles)

    def _remembered(self, username: str, stored: str, password: str, now: datetime) -> bool:
        digest = hmac.digest(self._cache_key, f"{stored}\0{password}".encode(), "sha256")
        hit = self._password_cache.get(username)
        if hit is not None and hit[1] > now and hmac.compare_digest(hit[0], digest):
            return True
        if verify_password(stored, password):
            if self._password_cache_ttl:
                self._password_cache[username] = (digest, now + self._password_cache_ttl)
            return True
        self._password_cache.pop(username, None)
        return False

    def _verify(
        self,
        uow: UnitOfWork,
        username: str,
        password: str,
        totp_code: str | None,
        address: str,
        now: datetime,
        totp: bool = True,
    ) -> StaffMember:
        since = now - self._limits.window
        if (
            uow.login_failures.count_for_address(address, since)
            >= self._limits.max_failures_per_address
        ):
            raise RateLimited(
                "too many failed logins from this address",
                int(self._limits.window.total_seconds()),
            )
        if (
            uow.login_failures.count_for_account(username, since)
            >= self._limits.max_failures_per_account
        ):
            raise RateLimited(
                "too many failed logins for this account",
                int(self._limits.window.total_seconds()),
            )
        member = uow.staff.by_username(username)
        stored = uow.staff.password_hash(member.id) if member else None
        if stored is None:
            verify_password(DUMMY_PASSWORD_HASH, password)  # same time as a real check
            ok = False
        elif totp:
            ok = verify_password(stored, password)
        else:
            ok = self._remembered(username, stored, password, now)
        if totp and ok and member is not None and member.totp_enabled:
            secret = uow.staff.totp_secret(member.id)
            ok = bool(secret and totp_code and verify_totp(secret, totp_code, now.timestamp()))
        if not ok or member is None or not member.active:
            uow.login_failures.record(username[:64], address[:64], now)
            uow.commit()
            raise AuthenticationFailed("invalid username, password or code")
        return member

    def authenticate(self, secret: str) -> Actor:
        """Resolve a bearer token to the actor it stands for, or refuse."""
        now = self._clock()
        with self._uow() as uow:
            token = uow.tokens.by_digest(token_digest(secret))
            if token is None or not token.usable_at(now):
                raise AuthenticationFailed("invalid, expired or revoked token")
            if token.kind is TokenKind.SERVICE:
                assert token.service is not None
                return Actor(kind=ActorKind.SERVICE, id=token.service.value)
            assert token.staff_id is not None
            member = uow.staff.get(token.staff_id)
            if member is None or not member.active:
                raise AuthenticationFailed("invalid, expired or revoked token")
            return Actor(kind=ActorKind.STAFF, id=member.id, roles=member.roles)
