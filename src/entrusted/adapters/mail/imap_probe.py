"""The probes of `entrusted mail check` (services/mail_check.py): one IMAP login through the
mail server with imaplib, step by step, and whether Entrusted's hook URL answers HTTP.

Why a separate TCP connect first: "nothing listens" and "TLS failed" need different hints,
and imaplib's own connect folds both into one exception. A password is sent only over TLS,
or in plain text to a loopback address (`Security.PLAIN_LOOPBACK`, refused for any other
host before anything is sent; `domain.hosts.is_loopback`, by the name as given, not by DNS).
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
from enum import StrEnum
from pathlib import Path

import httpx

from entrusted.domain.hosts import is_loopback
from entrusted.errors import InvalidInput
from entrusted.services.mail_check import ImapAttempt, LoginAnswer


class Security(StrEnum):
    TLS = "tls"  # IMAPS, TLS from the first byte (port 993)
    STARTTLS = "starttls"  # plain IMAP upgraded with STARTTLS (port 143)
    PLAIN_LOOPBACK = "plain-loopback"  # no TLS, loopback only


def _text(exc: imaplib.IMAP4.error) -> str:
    """The server's text: imaplib raises with the raw bytes of a NO answer."""
    raw = exc.args[0] if exc.args else ""
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _answer(text: str) -> LoginAnswer:
    if "[AUTHENTICATIONFAILED]" in text:
        return LoginAnswer.REFUSED
    if "[UNAVAILABLE]" in text:
        return LoginAnswer.UNAVAILABLE
    return LoginAnswer.OTHER


class ImaplibProbe:
    """`ImapProbe` over imaplib against HOST:PORT."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        cafile: Path | None = None,
        timeout: float = 15.0,
    ) -> None:
        if security is Security.PLAIN_LOOPBACK and not is_loopback(host):
            raise InvalidInput(
                "security",
                f"{host} is not a loopback address: the password would cross the network in "
                "plain text; use --tls or --starttls",
            )
        self._host, self._port, self._security, self._timeout = host, port, security, timeout
        self._context = ssl.create_default_context(cafile=str(cafile) if cafile else None)

    @property
    def where(self) -> str:
        return f"{self._host}:{self._port}"

    def attempt(self, user: str, password: str) -> ImapAttempt:
        try:
            socket.create_connection((self._host, self._port), self._timeout).close()
        except OSError as exc:
            return ImapAttempt(connected=str(exc) or type(exc).__name__)
        try:
            conn = self._open()
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            if self._security is Security.PLAIN_LOOPBACK:
                return ImapAttempt(None, server_text=f"no IMAP greeting: {exc}")
            return ImapAttempt(None, tls=f"{type(exc).__name__}: {exc}")
        tls_used = self._security is not Security.PLAIN_LOOPBACK
        try:
            typ, data = conn.login(user, password)
        except imaplib.IMAP4.error as exc:
            text = _text(exc)
            return ImapAttempt(None, None, tls_used, _answer(text), text)
        except OSError as exc:
            return ImapAttempt(None, None, tls_used, None, f"{type(exc).__name__}: {exc}")
        else:
            text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
            answer = LoginAnswer.OK if typ == "OK" else _answer(text)
            return ImapAttempt(None, None, tls_used, answer, f"{typ} {text}".strip())
        finally:
            try:
                conn.logout()
            except (OSError, imaplib.IMAP4.error):
                with contextlib.suppress(OSError):
                    conn.shutdown()

    def _open(self) -> imaplib.IMAP4:
        if self._security is Security.TLS:
            return imaplib.IMAP4_SSL(
                self._host, self._port, ssl_context=self._context, timeout=self._timeout
            )
        conn = imaplib.IMAP4(self._host, self._port, timeout=self._timeout)
        if self._security is Security.STARTTLS:
            if "STARTTLS" not in conn.capabilities:
                conn.shutdown()
                raise imaplib.IMAP4.error("the server offers no STARTTLS")
            try:
                conn.starttls(self._context)
            except BaseException:
                with contextlib.suppress(OSError):  # the socket may be gone already
                    conn.shutdown()
                raise
        return conn


class HttpHookProbe:
    """`HookProbe`: any HTTP answer at the URL (a refusal of an empty call included) means
    Entrusted's API is there; nothing is sent but an empty POST without a token."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout

    @property
    def url(self) -> str:
        return self._url

    def error(self) -> str | None:
        try:
            httpx.post(self._url, content=b"", timeout=self._timeout)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None
