"""Issue 17 item 4, the pure parts: `hooks_listen` and `trusted_proxies` are checked when the
settings load, and a hooks address the internet may reach is refused unless forced."""

from __future__ import annotations

import pytest

from entrusted.config import Settings, load_settings, split_listen
from entrusted.entrypoints.api.roles import check_hooks_host
from entrusted.errors import InvalidInput


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1:8431", ("127.0.0.1", 8431)),
        ("[::1]:8431", ("::1", 8431)),
        ("localhost:1", ("localhost", 1)),
        ("10.0.0.2:65535", ("10.0.0.2", 65535)),
    ],
)
def test_hooks_listen_is_host_and_port(value: str, parsed: tuple[str, int]) -> None:
    assert split_listen(value) == parsed
    assert Settings(hooks_listen=value).hooks_listen == value


@pytest.mark.parametrize("value", ["8431", "127.0.0.1", ":8431", "127.0.0.1:0",
                                   "127.0.0.1:65536", "127.0.0.1:http", "[::1]"])  # fmt: skip
def test_a_malformed_hooks_listen_stops_the_settings(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(hooks_listen=value)
    assert caught.value.field == "hooks_listen"
    assert "is not HOST:PORT" in caught.value.message


@pytest.mark.parametrize("value", [["*"], ["proxy.example.com"], ["10.0.0.0/33"], ["10.0.0.5 "]])
def test_trusted_proxies_are_addresses_or_networks_only(value: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(trusted_proxies=value)
    assert caught.value.field == "trusted_proxies"
    assert "is not an IP address or network" in caught.value.message


def test_trusted_proxies_take_addresses_and_networks() -> None:
    proxies = ("10.0.0.5", "192.168.1.0/24", "::1", "fd00::/8")
    assert load_settings(trusted_proxies=proxies).trusted_proxies == proxies


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.53", "::1", "localhost", "10.1.2.3", "172.16.0.9",
             "192.168.0.1", "fd12:3456::1"],
)  # fmt: skip
def test_loopback_and_private_hooks_addresses_pass(host: str) -> None:
    check_hooks_host(host, allow_public=False)


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("0.0.0.0", "listens on every interface"),
        ("::", "listens on every interface"),
        ("1.2.3.4", "is a public address"),
        ("2a00:1450::1", "is a public address"),
        ("hooks.example.com", "is a host name"),
    ],
)
def test_a_public_hooks_address_is_refused_unless_forced(host: str, why: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_hooks_host(host, allow_public=False)
    assert caught.value.field == "hooks_listen"
    assert f"{host} {why}" in caught.value.message
    assert "hooks_allow_public_address" in caught.value.message
    check_hooks_host(host, allow_public=True)
