"""Staff identities and authentication (P8, P14).

Every credential check resolves to an `Actor`; nothing else in the system trusts a username.
Failed logins are counted per account and per client address, and lock out further attempts
for a window, so password guessing against the staff who hold the keys to customer data is slow.
Administration (ledgered, with its events) lives in `staff_admin.py`, the second factor (sealed
seeds, codes used once) in `staff_totp.py`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from entrusted.crypto.secrets import DUMMY_PASSWORD_HASH, new_id, token_digest, verify_password
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.staff import StaffMember, TokenKind
from entrusted.errors import AuthenticationFailed, RateLimited
from entrusted.services.events import EventBus
from entrusted.services.gate import Gate
from entrusted.services.outcomes import OutcomeRecorder
from entrusted.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from entrusted.services.staff_admin import IssuedToken, StaffAdmin
from entrusted.services.staff_totp import SecondFactor

SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)


class StaffService(StaffAdmin):
    """Staff administration (`StaffAdmin`) plus logins and token checks."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        limits: LoginLimits | None = None,
        ids: Callable[[str], str] = new_id,
        default_token_ttl: timedelta = timedelta(days=90),
        password_cache_ttl: timedelta = timedelta(0),
        readers: UnitOfWorkFactory | None = None,
        *,
        gate: Gate,
        events: EventBus,
        operator: Actor,
        second_factor: SecondFactor,
        max_token_ttl: timedelta = timedelta(days=90),
    ) -> None:
        self._uow = uow
        # Staff administration is decided by the gate and ledgered; `operator` is who acts
        # when a caller names nobody (the machine's operator at the console).
        self._gate = gate
        self._outcomes = OutcomeRecorder(gate)
        self._events = events
        self._operator = operator
        self._totp = second_factor
        self._max_ttl = max_token_ttl
        # Units that only read (token checks, the read half of a login): on SQLite they never
        # take the write lock, so they neither wait for writers nor hold writers up.
        self._readers = readers or uow
        self._clock = clock
        self._limits = limits or LoginLimits()
        self._ids = ids
        self._default_ttl = default_token_ttl
        self._password_cache_ttl = password_cache_ttl
        self._password_cache: dict[str, tuple[bytes, datetime]] = {}
        self._cache_key = secrets.token_bytes(32)  # per process: nothing to steal from disk

    def login(
        self, username: str, password: str, totp_code: str | None, address: str
    ) -> IssuedToken:
        """Exchange a password (and TOTP code, once enrolled) for a 12-hour session token."""
        now = self._clock()
        member, stored = self._verify(username, password, totp_code, address, now)
        issued = self._new_token(
            TokenKind.PERSONAL, "login session", None, staff_id=member.id, ttl=SESSION_TTL
        )
        with self._uow() as uow:
            current = uow.staff.get(member.id)
            changed = uow.staff.password_hash(member.id) != stored
            if current is None or not current.active or changed:
                # Disabled, or the password changed, while the hash was being checked
                uow.login_failures.record(username[:64], address[:64], now)
                uow.commit()
                raise AuthenticationFailed("invalid username, password or code")
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
        member, _ = self._verify(username, password, None, address, self._clock(), totp=False)
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
        username: str,
        password: str,
        totp_code: str | None,
        address: str,
        now: datetime,
        totp: bool = True,
    ) -> tuple[StaffMember, str]:
        """The member and the password hash that matched, or AuthenticationFailed with the
        failure recorded. Reads in one read-only unit, hashes outside any transaction (argon2
        takes ~50 ms: holding SQLite's write lock that long would queue every writer), and
        writes the failure in a short writing unit of its own, which waits for the lock, so
        a failed attempt is counted even while others write."""
        with self._readers() as uow:
            self._check_limits(uow, username, address, now)
            member = uow.staff.by_username(username)
            stored = uow.staff.password_hash(member.id) if member else None
            wants_totp = totp and member is not None and member.totp_enabled
        if stored is None:
            verify_password(DUMMY_PASSWORD_HASH, password)  # same time as a real check
            ok = False
        elif totp:
            ok = verify_password(stored, password)
        else:
            ok = self._remembered(username, stored, password, now)
        if wants_totp and ok and member is not None:
            ok = self._code_ok(member.id, totp_code, now)
        if not ok or member is None or stored is None or not member.active:
            with self._uow() as uow:
                uow.login_failures.record(username[:64], address[:64], now)
                uow.commit()
            raise AuthenticationFailed("invalid username, password or code")
        if totp and self._totp.required and not member.totp_enabled:
            raise AuthenticationFailed(
                "a second factor is required for staff: enrol one first (staff totp-enrol)"
            )
        return member, stored

    def _code_ok(self, staff_id: str, code: str | None, now: datetime) -> bool:
        """Check a TOTP code and spend its time step, so the same code never works twice."""
        with self._uow() as uow:
            ok = self._totp.use(uow, staff_id, code, now)
            if ok:
                uow.commit()
        return ok

    def _check_limits(self, uow: UnitOfWork, username: str, address: str, now: datetime) -> None:
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

    def authenticate(self, secret: str) -> Actor:
        """Resolve a bearer token to the actor it stands for, or refuse."""
        now = self._clock()
        with self._readers() as uow:
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
