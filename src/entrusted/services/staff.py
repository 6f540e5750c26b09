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
import time
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
from entrusted.services.ports import Clock, LoginFailureRepository, UnitOfWorkFactory
from entrusted.services.staff_admin import IssuedToken, StaffAdmin
from entrusted.services.staff_totp import SecondFactor

SESSION_TTL = timedelta(hours=12)
# How long an attempt waits for attempts still in flight (each settles after one argon2 hash,
# 50-200 ms on this machine) before a limit they fill refuses it, and how often it looks again.
IN_FLIGHT_WAIT_S = 10.0
IN_FLIGHT_POLL_S = 0.05
# Every refused staff login gets this one answer, whatever was wrong.
BAD_LOGIN = "invalid username, password or code"


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Failed logins allowed per account and per client address within `window`; one check
    for every login (staff, customers, the FTP space), so the limits cannot drift apart."""

    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    def exceeded(
        self,
        failures: LoginFailureRepository,
        account: str,
        address: str,
        now: datetime,
        discount: int = 0,
    ) -> RateLimited | None:
        """The refusal to raise when the failures recorded within the window (attempts in
        flight included) reach a limit, else None; `discount` leaves out that many, to ask
        whether settled failures alone reach it."""
        since = now - self.window
        retry = int(self.window.total_seconds())
        if failures.count_for_address(address, since) - discount >= self.max_failures_per_address:
            return RateLimited("too many failed logins from this address", retry)
        if failures.count_for_account(account, since) - discount >= self.max_failures_per_account:
            return RateLimited("too many failed logins for this account", retry)
        return None


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
        member, stored, attempt = self._verify(username, password, totp_code, address, now)
        issued = self._new_token(
            TokenKind.PERSONAL, "login session", None, staff_id=member.id, ttl=SESSION_TTL
        )
        with self._uow() as uow:
            current = uow.staff.get(member.id)
            changed = uow.staff.password_hash(member.id) != stored
            if current is None or not current.active or changed:
                # Disabled, or the password changed, while the hash was being checked
                uow.login_failures.settle(attempt)
                uow.commit()
                raise AuthenticationFailed(BAD_LOGIN)
            uow.tokens.add(issued.token, token_digest(issued.secret))
            uow.login_failures.drop(attempt)
            uow.login_failures.clear_account(username[:64])
            uow.commit()
        return issued

    def staff_id_of(self, username: str) -> str | None:
        """The id behind a username, for ledgering a refused login by id: what a client typed
        as a username is attacker-chosen text and never enters the ledger."""
        if not 0 < len(username) <= 64:
            return None
        with self._readers() as uow:
            member = uow.staff.by_username(username)
        return None if member is None else member.id

    def actor_of(self, staff_id: str) -> Actor | None:
        """An active staff member as the gate knows them (with their roles, read now), for a
        server that resumes a session by its ids (the remote FTP server's next step)."""
        with self._readers() as uow:
            member = uow.staff.get(staff_id)
        if member is None or not member.active:
            return None
        return Actor(kind=ActorKind.STAFF, id=member.id, roles=member.roles)

    def check_password(self, username: str, password: str, address: str) -> Actor:
        """A password alone, for a server that cannot ask for a TOTP code (the IMAP staff
        login, which also needs the customer's grant): the same rate limits and failure
        records as `login`. A recent success is remembered as a keyed digest of (stored hash,
        password) for `password_cache_ttl`, so an IMAP client's reconnects do not each pay
        argon2; a changed password or a disabled account misses that cache."""
        now = self._clock()
        known = self._recent_success(username, password, address, now)
        if known is not None:
            return known
        member, _, attempt = self._verify(username, password, None, address, now, totp=False)
        self._end_attempt(attempt, failed=False, clear=username[:64])
        return Actor(kind=ActorKind.STAFF, id=member.id, roles=member.roles)

    def _recent_success(
        self, username: str, password: str, address: str, now: datetime
    ) -> Actor | None:
        """The member, if this process checked this very password against the stored hash
        within `password_cache_ttl` and nothing needs writing: the member is active, no limit
        is reached and the account has no failure to clear. Read only. Why: an IMAP client's
        reconnects repeat one right password, and the two bookkeeping commits of a full check
        queued every such login behind SQLite's write lock (`bench api`'s mail gate). A wrong
        password never matches the remembered digest and takes the counted path; so does any
        login while a failure (settled or in flight) is on record for the account."""
        if username not in self._password_cache:
            return None
        account, source = username[:64], address[:64]
        with self._readers() as uow:
            member = uow.staff.by_username(username)
            if member is None or not member.active:
                return None
            stored = uow.staff.password_hash(member.id)
            failures = uow.login_failures
            since = now - self._limits.window
            if failures.count_for_account(account, since):
                return None  # a failure to clear, or one in flight: the counted path
            if failures.count_for_address(source, since) >= self._limits.max_failures_per_address:
                return None
        if stored is None or not self._cached(username, self._digest(stored, password), now):
            return None
        return Actor(kind=ActorKind.STAFF, id=member.id, roles=member.roles)

    def _digest(self, stored: str, password: str) -> bytes:
        """What the password cache keeps for a hash and a password: never the password."""
        return hmac.digest(self._cache_key, f"{stored}\0{password}".encode(), "sha256")

    def _cached(self, username: str, digest: bytes, now: datetime) -> bool:
        hit = self._password_cache.get(username)
        return hit is not None and hit[1] > now and hmac.compare_digest(hit[0], digest)

    def _remembered(self, username: str, stored: str, password: str, now: datetime) -> bool:
        digest = self._digest(stored, password)
        if self._cached(username, digest, now):
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
    ) -> tuple[StaffMember, str, int]:
        """The member, the password hash that matched and the attempt still in flight (the
        caller drops it), or AuthenticationFailed with the failure recorded. The attempt is
        recorded in flight first, in the writing unit that checks the limits (`_begin`), so
        N parallel wrong passwords cannot all pass a count taken before any of them failed
        (issue 11). The hash is checked outside any transaction (argon2 takes ~50 ms: holding
        SQLite's write lock that long would queue every writer)."""
        attempt, member, stored = self._begin(username, address, now)
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
        # A member without the required second factor gets the answer a wrong password gets,
        # counted the same: a distinct message (or an uncounted attempt) would confirm a
        # guessed password (trial finding). Enrolling is `entrusted staff totp-enrol`.
        unenrolled = (
            member is not None and totp and self._totp.required and not member.totp_enabled
        )
        if not ok or member is None or stored is None or not member.active or unenrolled:
            self._end_attempt(attempt, failed=True)
            raise AuthenticationFailed(BAD_LOGIN)
        return member, stored, attempt

    def _begin(
        self, username: str, address: str, now: datetime
    ) -> tuple[int, StaffMember | None, str | None]:
        """Check the limits and record the attempt in flight, in one writing unit that holds
        off other attempts on the account or address until it commits. A limit reached only
        because attempts are still in flight (a burst of correct logins) is waited out for a
        moment, in real time since the attempts settle in real time; settled failures refuse
        at once."""
        account, source = username[:64], address[:64]
        since = now - self._limits.window
        deadline = time.monotonic() + IN_FLIGHT_WAIT_S
        while True:
            with self._uow() as uow:
                failures = uow.login_failures
                failures.hold(account, source)
                limited = self._limits.exceeded(failures, account, source, now)
                if limited is None:
                    attempt = failures.begin(account, source, now)
                    member = uow.staff.by_username(username)
                    stored = uow.staff.password_hash(member.id) if member else None
                    uow.commit()
                    return attempt, member, stored
                pending = failures.in_flight(account, source, since)
                settled = self._limits.exceeded(failures, account, source, now, pending)
                busy = pending > 0 and settled is None
            if not busy or time.monotonic() >= deadline:
                raise limited
            time.sleep(IN_FLIGHT_POLL_S)

    def _end_attempt(self, attempt: int, failed: bool, clear: str | None = None) -> None:
        """Settle an attempt as a failure, or drop it (and clear the account's failures)."""
        with self._uow() as uow:
            if failed:
                uow.login_failures.settle(attempt)
            else:
                uow.login_failures.drop(attempt)
            if clear is not None:
                uow.login_failures.clear_account(clear)
            uow.commit()

    def _code_ok(self, staff_id: str, code: str | None, now: datetime) -> bool:
        """Check a TOTP code and spend its time step, so the same code never works twice."""
        with self._uow() as uow:
            ok = self._totp.use(uow, staff_id, code, now)
            if ok:
                uow.commit()
        return ok

    def sign_out(self, secret: str) -> bool:
        """Revoke the token a console session holds (signing out); False if it was unknown
        or already unusable. Only the holder of the token can revoke it this way."""
        now = self._clock()
        with self._uow() as uow:
            token = uow.tokens.by_digest(token_digest(secret))
            if token is None or not token.usable_at(now):
                return False
            uow.tokens.revoke(token.id, now)
            uow.commit()
        return True

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
