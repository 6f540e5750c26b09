"""HttpSmsGateway against a real HTTP server on loopback that records what it receives, and the
in-memory twin refusing exactly what the adapter refuses."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from entrusted.adapters.sms import HttpSmsGateway
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.memory_mail import InMemorySms
from entrusted.services.messaging import SentSms

pytestmark = pytest.mark.promise("P1")

HOST = "127.0.0.1"
TOKEN = "test-token-0123456789"  # a throwaway value for the local test server
MOBILE = "+41790000000"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Gateway:
    """What the fake gateway received, and how it answers."""

    port: int
    requests: list[Request] = field(default_factory=list)
    status: int = 202
    reply: bytes = b'{"id": "msg_1"}'
    location: str | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1/messages"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's hook name
            length = int(self.headers.get("Content-Length", "0"))
            state.requests.append(
                Request("POST", self.path, dict(self.headers.items()), self.rfile.read(length))
            )
            self.send_response(state.status)
            if state.location is not None:
                self.send_header("Location", state.location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.reply)))
            self.end_headers()
            self.wfile.write(state.reply)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet: the test asserts on what was recorded instead."""

    server = ThreadingHTTPServer((HOST, 0), Handler)
    state.port = server.server_address[1]
    # A short poll interval makes shutdown() return quickly at the end of each test.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_posts_json_with_bearer_token(gateway: Gateway) -> None:
    HttpSmsGateway(gateway.url, TOKEN, timeout=5).send(MOBILE, "Your code is 123456")
    assert len(gateway.requests) == 1
    request = gateway.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"to": MOBILE, "text": "Your code is 123456"}


def test_non_ascii_text_arrives_intact(gateway: Gateway) -> None:
    HttpSmsGateway(gateway.url, TOKEN).send(MOBILE, "Grüezi Zoë: Code 123456 ✓")
    assert json.loads(gateway.requests[0].body)["text"] == "Grüezi Zoë: Code 123456 ✓"


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_success(gateway: Gateway, status: int) -> None:
    gateway.status = status
    gateway.reply = b""
    HttpSmsGateway(gateway.url, TOKEN).send(MOBILE, "Code 123456")


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_error_status_is_unavailable_without_secrets(gateway: Gateway, status: int) -> None:
    gateway.status = status
    gateway.reply = json.dumps({"error": f"cannot deliver to {MOBILE} with {TOKEN}"}).encode()
    with pytest.raises(Unavailable) as info:
        HttpSmsGateway(gateway.url, TOKEN).send(MOBILE, "Code 123456")
    message = str(info.value)
    assert f"HTTP {status}" in message
    assert f"{HOST}:{gateway.port}" in message
    assert TOKEN not in message
    assert MOBILE not in message


def test_redirect_is_not_followed(gateway: Gateway) -> None:
    gateway.status = 307
    gateway.location = "http://127.0.0.2:9/steal-the-token"
    with pytest.raises(Unavailable, match="HTTP 307"):
        HttpSmsGateway(gateway.url, TOKEN).send(MOBILE, "Code 123456")
    assert len(gateway.requests) == 1


def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unavailable, match="unreachable") as info:
        HttpSmsGateway(f"http://{HOST}:{port}/v1/messages", TOKEN).send(MOBILE, "Code")
    assert TOKEN not in str(info.value)


def test_silent_gateway_times_out_as_unavailable() -> None:
    with socket.socket() as silent:  # accepts (backlog) but never answers
        silent.bind((HOST, 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        gateway = HttpSmsGateway(f"http://{HOST}:{port}/", TOKEN, timeout=0.3)
        with pytest.raises(Unavailable, match="Timeout"):
            gateway.send(MOBILE, "Code")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://sms.example.com/v1/messages", "in clear"),  # token over plain HTTP
        ("ftp://sms.example.com/", "http"),
        ("not a url", "http"),
    ],
)
def test_unsafe_or_bad_url_is_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as info:
        HttpSmsGateway(url, TOKEN)
    assert info.value.field == "sms gateway url"


def test_https_and_loopback_urls_are_accepted() -> None:
    HttpSmsGateway("https://sms.example.com/v1/messages", TOKEN)
    HttpSmsGateway("http://localhost:8080/", TOKEN)
    HttpSmsGateway("http://[::1]:8080/", TOKEN)


@pytest.mark.parametrize("token", ["", " padded "])
def test_bad_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidInput) as info:
        HttpSmsGateway("https://sms.example.com/", token)
    assert info.value.field == "sms gateway token"


def test_repr_hides_the_token() -> None:
    assert TOKEN not in repr(HttpSmsGateway("https://sms.example.com/", TOKEN))


BAD_MESSAGES = [
    ("044 000 00 00", "Code", "to"),  # national form: normalise before sending
    ("+41 79 000 00 00", "Code", "to"),
    ("alice@example.com", "Code", "to"),
    (MOBILE, "", "text"),
    (MOBILE, "   ", "text"),
    (MOBILE, "x" * 1601, "text"),
]


@pytest.mark.parametrize(("to", "text", "field_name"), BAD_MESSAGES)
def test_adapter_and_twin_refuse_the_same_input(
    gateway: Gateway, to: str, text: str, field_name: str
) -> None:
    with pytest.raises(InvalidInput) as real:
        HttpSmsGateway(gateway.url, TOKEN).send(to, text)
    twin = InMemorySms()
    with pytest.raises(InvalidInput) as fake:
        twin.send(to, text)
    assert real.value.field == fake.value.field == field_name
    assert gateway.requests == []
    assert twin.sent == []


def test_twin_records_and_fails_like_the_gateway() -> None:
    twin = InMemorySms()
    twin.send(MOBILE, "Code 123456")
    assert twin.sent == [SentSms(MOBILE, "Code 123456")]
    twin.fail = True
    with pytest.raises(Unavailable):
        twin.send(MOBILE, "Code 654321")
    assert len(twin.sent) == 1
