"""`domain.hosts`: the one rule for where a password or token may go in plain text, shared by
the Dovecot hook URL, the FTP gate URL, the ledger reader, SMTP, the SMS gateway, the IMAP
check and the /metrics loopback rule. By the name as written, never by DNS."""

from __future__ import annotations

import pytest

from entrusted.domain.hosts import is_loopback, token_may_travel


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.8.9.10", "::1", "[::1]"],
)
def test_loopback_names_and_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["", "0.0.0.0", "10.0.0.11", "192.0.2.7", "::", "::ffff:192.0.2.7", "mail.example.com",
     "localhost.example.com", "127.0.0.1.example.com", "[::1", "[]"],
)  # fmt: skip
def test_anything_else_is_not_loopback_even_if_it_might_resolve_there(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "url",
    ["https://hooks.internal.example.com:8443/v1/gate/mail-login", "https://192.0.2.7",
     "http://127.0.0.1:8431/v1/gate/mail-login", "http://127.0.0.2:8431", "http://[::1]:8431/x",
     "http://localhost:8431", "http://LocalHost./x"],
)  # fmt: skip
def test_a_token_travels_over_https_anywhere_or_http_to_loopback(url: str) -> None:
    assert token_may_travel(url)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.11:8431/v1/gate/mail-login", "http://hooks.example.com", "http://0.0.0.0:1",
     "http://127.0.0.1.example.com/", "http://localhost@192.0.2.7/", "ftp://localhost/",
     "https://", "http://", "localhost:8431", "http://[::1/x", ""],
)  # fmt: skip
def test_a_token_never_travels_in_clear_across_a_network(url: str) -> None:
    assert not token_may_travel(url)
