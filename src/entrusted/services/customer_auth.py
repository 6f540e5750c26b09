"""Customer credentials (P1, P10): a password set through a one-time link, and bearer tokens.

At registration a password link is queued in the outbox; the worker mints a random token
(only its SHA-256 is stored, for `password_link_ttl_s`) and mails the link; following it sets
an argon2id password. Logging
in with the e-mail address on file and that password yields a 12-hour customer token
(`entc_...`), which authenticates as `Actor(CUSTOMER, customer id)`: the actor the gate's
`owns_resource` condition recognises. Failed logins are counted like staff logins, under a
key derived from the address's blind index, so the count table holds no address either.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from entrusted.crypto.blind_index import email_index
from entrusted.crypto.personal import RegistryKeys, open_customer
from entrusted.crypto.secrets import (
    DUMMY_PASSWORD_HASH,
    hash_password,
    new_id,
    token_digest,
    verify_password,
)
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import OutboxMessage, Topic
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.registry import CustomerSession, CustomerStatus, SealedCustomer
from entrusted.domain.staff import validate_password
from entrusted.errors import AuthenticationFailed, InvalidInput, RateLimited
from entrusted.services.outbox import Letter, MailTemplates, Renderer, queue, required
from entrusted.services.ports import (
    Clock,
    ContactNormaliser,
    OutboxRepository,
    RegistryUnitOfWork,
    RegistryUnitOfWorkFactory,
)
from entrusted.services.staff import SESSION_TTL, LoginLimits

CUSTOMER_TOKEN_PREFIX = "entc_"  # noqa: S105 - a public prefix, not a secret
LINK_TOKEN_PREFIX = "entl_"  # noqa: S105
_BAD_LOGIN = "invalid e-mail address or password"
_HOUR = timedelta(hours=1)
_INSTANT = timedelta(microseconds=1)


def is_customer_token(secret: str) -> bool:
    return secret.startswith(CUSTOMER_TOKEN_PREFIX)


@dataclass(frozen=True, slots=True)
class IssuedCustomerToken:
    """The plaintext `secret` exists only in this value: shown once, never stored."""

    secret: str
    session: CustomerSession


class CustomerAuthService:
    def __init__(
        self,
        uow: RegistryUnitOfWorkFactory,
        clock: Clock,
        keys: Callable[[], RegistryKeys],
        contacts: ContactNormaliser,
        portal_url: str,
        link_ttl: timedelta = timedelta(hours=48),
        limits: LoginLimits | None = None,
        ids: Callable[[str], str] = new_id,
        readers: RegistryUnitOfWorkFactory | None = None,
        link_limit: int = 3,
        mails: MailTemplates | None = None,
    ) -> None:
        self._mails = mails
        self._uow = uow
        self._readers = readers or uow  # units that only read: no write lock on SQLite
        self._clock = clock
        self._keys = keys
        self._contacts = contacts
        self._portal = portal_url.rstrip("/")
        self._link_ttl = link_ttl
        self._limits = limits or LoginLimits()
        self._ids = ids
        self._link_limit = link_limit

    def new_link(self) -> tuple[str, bytes, datetime]:
        """A fresh link token: (secret for the e-mail, digest to store, expiry)."""
        secret = LINK_TOKEN_PREFIX + secrets.token_urlsafe(32)
        return secret, token_digest(secret), self._clock() + self._link_ttl

    def queue_link(self, outbox: OutboxRepository, customer_id: str) -> None:
        """Queue a password link for `customer_id` in the caller's transaction; the worker
        mints its token and mails it (`renderers`), so no secret waits in the outbox."""
        queue(outbox, Topic.PASSWORD_LINK, customer_id, self._clock())

    def request_link(self, email: str) -> None:
        """Queue a new link for `email`, to be sent if it is a customer's address. The
        request does the same work either way (one throttle count, one outbox row keyed by
        the address's blind index, no customer lookup and no send), so neither the answer
        nor its time tells who is a customer; the worker resolves the address. At most
        `link_limit` requests per address and hour: RateLimited beyond."""
        try:
            idx = email_index(self._keys().index_key, self._contacts.email(email, "email"))
        except InvalidInput:
            return
        now = self._clock()
        with self._uow() as uow:
            # the last hour, its first instant left out: a request an hour old has aged out
            since = now - _HOUR + _INSTANT
            asked = uow.outbox.times_since(Topic.PASSWORD_LINK_REQUEST, idx.hex(), since)
            if len(asked) >= self._link_limit:
                # A place frees when the oldest request that fills the hour's limit ages out;
                # refused requests are not queued, so asking again does not push it back.
                frees = asked[len(asked) - self._link_limit] + _HOUR
                wait = max(1, math.ceil((frees - now).total_seconds()))
                raise RateLimited("too many password links asked for this address", wait)
            queue(uow.outbox, Topic.PASSWORD_LINK_REQUEST, idx.hex(), now)
            uow.commit()

    def renderers(self) -> dict[Topic, Renderer]:
        """The outbox worker's view of password links: a new token, stored as a digest,
        then the letter (None when the customer is gone, disabled or was never one)."""

        def by_id(message: OutboxMessage) -> Letter | None:
            with self._uow() as uow:
                return self._link_letter(uow, uow.customers.get(message.ref))

        def by_address(message: OutboxMessage) -> Letter | None:
            with self._uow() as uow:
                found = uow.customers.by_email_index(bytes.fromhex(message.ref))
                return self._link_letter(uow, found)

        return {Topic.PASSWORD_LINK: by_id, Topic.PASSWORD_LINK_REQUEST: by_address}

    def _link_letter(
        self, uow: RegistryUnitOfWork, customer: SealedCustomer | None
    ) -> Letter | None:
        """The token sits in the URL fragment, which browsers never send to a server or in
        a Referer, so it stays out of access logs."""
        if customer is None or customer.status is not CustomerStatus.ACTIVE:
            return None
        secret, digest, expires = self.new_link()
        uow.customers.set_password_token(customer.id, digest, expires)
        uow.commit()
        written = required(self._mails).write(
            Topic.PASSWORD_LINK,
            {
                "hours": int(self._link_ttl.total_seconds() // 3600),
                "link": f"{self._portal}/password#token={secret}",
            },
            customer.language,
            customer.time_zone,
        )
        return written.to(open_customer(self._keys(), customer).email, MailPurpose.SECURITY)

    def set_password(self, link_secret: str, password: str) -> str:
        """Set the password the link is for; returns the customer id. The link works once,
        and every session signed in with the old password ends: a reset after a stolen
        password must shut the thief out, not only change the lock."""
        validate_password(password)
        password_hash = hash_password(password)
        with self._uow() as uow:
            found = uow.customers.by_password_token(token_digest(link_secret))
            if found is None or found[1] <= self._clock():
                raise AuthenticationFailed("invalid or expired password link")
            customer, _ = found
            uow.customers.set_password(customer.id, password_hash)
            uow.customer_sessions.revoke_all_for_customer(customer.id, self._clock())
            uow.commit()
        return customer.id

    def login(self, email: str, password: str, address: str) -> IssuedCustomerToken:
        now = self._clock()
        try:
            idx = email_index(self._keys().index_key, self._contacts.email(email, "email"))
        except InvalidInput:
            idx = token_digest(email)  # an account that cannot exist, counted all the same
        account = f"customer:{idx.hex()[:40]}"
        # Read, hash, then write, each apart (see StaffService._verify): argon2 never runs
        # inside a transaction, and the writing unit waits for SQLite's lock instead of failing.
        with self._readers() as uow:
            limited = self._limits.exceeded(uow.login_failures, account, address, now)
            if limited is not None:
                raise limited
            customer = uow.customers.by_email_index(idx)
            stored = uow.customers.password_hash(customer.id) if customer else None
        ok = verify_password(stored or DUMMY_PASSWORD_HASH, password) and stored is not None
        with self._uow() as uow:
            if ok and customer is not None:
                # Re-read: closed, or a new password set, while the hash was being checked
                customer = uow.customers.get(customer.id)
                ok = customer is not None and uow.customers.password_hash(customer.id) == stored
            if not ok or customer is None or customer.status is not CustomerStatus.ACTIVE:
                uow.login_failures.record(account, address[:64], now)
                uow.commit()
                raise AuthenticationFailed(_BAD_LOGIN)
            secret = CUSTOMER_TOKEN_PREFIX + secrets.token_urlsafe(32)
            session = CustomerSession(self._ids("ses"), customer.id, now, now + SESSION_TTL)
            uow.customer_sessions.add(session, token_digest(secret))
            uow.login_failures.clear_account(account)
            uow.commit()
        return IssuedCustomerToken(secret, session)

    def sign_out(self, secret: str) -> bool:
        """End the session this token stands for (the portal's sign-out); False if it was
        unknown or already ended. Only the holder of the token can end it."""
        with self._uow() as uow:
            ended = uow.customer_sessions.revoke_digest(token_digest(secret), self._clock())
            uow.commit()
        return ended

    def authenticate(self, secret: str) -> Actor:
        """Resolve a customer token to its actor, or refuse."""
        with self._readers() as uow:
            session = uow.customer_sessions.by_digest(token_digest(secret))
            if session is None or not session.usable_at(self._clock()):
                raise AuthenticationFailed("invalid, expired or revoked token")
            customer = uow.customers.get(session.customer_id)
            if customer is None or customer.status is not CustomerStatus.ACTIVE:
                raise AuthenticationFailed("invalid, expired or revoked token")
        return Actor(ActorKind.CUSTOMER, customer.id)
