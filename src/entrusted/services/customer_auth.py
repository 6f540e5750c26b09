"""Customer credentials (P1, P10): a password set through a one-time link, and bearer tokens.

At registration the customer gets an e-mail with a link holding a random token (only its
SHA-256 is stored, for `password_link_ttl_s`); following it sets an argon2id password. Logging
in with the e-mail address on file and that password yields a 12-hour customer token
(`entc_...`), which authenticates as `Actor(CUSTOMER, customer id)`: the actor the gate's
`owns_resource` condition recognises. Failed logins are counted like staff logins, under a
key derived from the address's blind index, so the count table holds no address either.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from entrusted.crypto.blind_index import email_index
from entrusted.crypto.personal import RegistryKeys
from entrusted.crypto.secrets import (
    DUMMY_PASSWORD_HASH,
    hash_password,
    new_id,
    token_digest,
    verify_password,
)
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.registry import CustomerSession, CustomerStatus
from entrusted.domain.staff import validate_password
from entrusted.errors import AuthenticationFailed, InvalidInput, RateLimited, Unavailable
from entrusted.services.messaging import MailSender
from entrusted.services.ports import Clock, ContactNormaliser, RegistryUnitOfWorkFactory
from entrusted.services.staff import SESSION_TTL, LoginLimits

CUSTOMER_TOKEN_PREFIX = "entc_"  # noqa: S105 - a public prefix, not a secret
LINK_TOKEN_PREFIX = "entl_"  # noqa: S105
_BAD_LOGIN = "invalid e-mail address or password"


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
        mailer: MailSender,
        portal_url: str,
        link_ttl: timedelta = timedelta(hours=48),
        limits: LoginLimits | None = None,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._keys = keys
        self._contacts = contacts
        self._mailer = mailer
        self._portal = portal_url.rstrip("/")
        self._link_ttl = link_ttl
        self._limits = limits or LoginLimits()
        self._ids = ids

    def new_link(self) -> tuple[str, bytes, datetime]:
        """A fresh link token: (secret for the e-mail, digest to store, expiry)."""
        secret = LINK_TOKEN_PREFIX + secrets.token_urlsafe(32)
        return secret, token_digest(secret), self._clock() + self._link_ttl

    def send_link(self, email: str, secret: str) -> bool:
        """E-mail the link; False (and the customer can ask again) if the relay cannot take it.
        The token sits in the URL fragment, which browsers never send to a server or in a
        Referer, so it stays out of access logs."""
        body = (
            "Welcome. Set the password of your customer account here (the link works once, "
            f"for {int(self._link_ttl.total_seconds() // 3600)} hours):\n\n"
            f"{self._portal}/password#token={secret}\n"
        )
        try:
            self._mailer.send(
                email, "Set your password", body, {"Auto-Submitted": "auto-generated"}
            )
        except (Unavailable, InvalidInput):
            return False
        return True

    def request_link(self, email: str) -> None:
        """Send a new link to `email` if it is a customer's address. The answer is the same
        either way, so the endpoint cannot be used to find out who is a customer."""
        try:
            idx = email_index(self._keys().index_key, self._contacts.email(email, "email"))
        except InvalidInput:
            return
        secret, digest, expires = self.new_link()
        with self._uow() as uow:
            found = uow.customers.by_email_index(idx)
            if found is None or found.status is not CustomerStatus.ACTIVE:
                return
            uow.customers.set_password_token(found.id, digest, expires)
            uow.commit()
        self.send_link(self._contacts.email(email, "email"), secret)

    def set_password(self, link_secret: str, password: str) -> str:
        """Set the password the link is for; returns the customer id. The link works once."""
        validate_password(password)
        password_hash = hash_password(password)
        with self._uow() as uow:
            found = uow.customers.by_password_token(token_digest(link_secret))
            if found is None or found[1] <= self._clock():
                raise AuthenticationFailed("invalid or expired password link")
            customer, _ = found
            uow.customers.set_password(customer.id, password_hash)
            uow.commit()
        return customer.id

    def login(self, email: str, password: str, address: str) -> IssuedCustomerToken:
        now = self._clock()
        since = now - self._limits.window
        try:
            idx = email_index(self._keys().index_key, self._contacts.email(email, "email"))
        except InvalidInput:
            idx = token_digest(email)  # an account that cannot exist, counted all the same
        account = f"customer:{idx.hex()[:40]}"
        with self._uow() as uow:
            retry = int(self._limits.window.total_seconds())
            if uow.login_failures.count_for_address(address, since) >= (
                self._limits.max_failures_per_address
            ):
                raise RateLimited("too many failed logins from this address", retry)
            if uow.login_failures.count_for_account(account, since) >= (
                self._limits.max_failures_per_account
            ):
                raise RateLimited("too many failed logins for this account", retry)
            customer = uow.customers.by_email_index(idx)
            stored = uow.customers.password_hash(customer.id) if customer else None
            ok = verify_password(stored or DUMMY_PASSWORD_HASH, password) and stored is not None
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

    def authenticate(self, secret: str) -> Actor:
        """Resolve a customer token to its actor, or refuse."""
        with self._uow() as uow:
            session = uow.customer_sessions.by_digest(token_digest(secret))
            if session is None or not session.usable_at(self._clock()):
                raise AuthenticationFailed("invalid, expired or revoked token")
            customer = uow.customers.get(session.customer_id)
            if customer is None or customer.status is not CustomerStatus.ACTIVE:
                raise AuthenticationFailed("invalid, expired or revoked token")
        return Actor(ActorKind.CUSTOMER, customer.id)
