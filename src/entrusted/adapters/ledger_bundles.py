"""A published log as `entrusted evidence verify` reads it over HTTP: the public checkpoint,
key list and hash tiles (through `HttpTileSource`), and the entry bundles, which need a bearer
token because they pass the gate (see `entrypoints/api/ledger.py`).

A refusal of the token is told apart from a log that fails to prove itself: 401 is
`AuthenticationFailed` and 403 is `Refused` naming the log's rule (the verifier may not read
the entries; nothing is wrong with the log), while a bundle the checkpoint covers but the log
does not serve, or one that does not decode, is `TamperDetected`.

The token is legal's (it reads every entry), so it never travels in clear text: over
`http://` it is refused before any request unless the host is this machine's loopback
(127.0.0.0/8, ::1, localhost), where nothing crosses a network (a test, a tunnel's end).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from entrusted.adapters.ledger_http import TIMEOUT_S, HttpTileSource, read_capped
from entrusted.domain.hosts import token_may_travel
from entrusted.domain.ledger import MAX_BUNDLE_ENTRY, TILE_WIDTH
from entrusted.domain.tiles import decode_bundle, entries_path
from entrusted.errors import (
    AuthenticationFailed,
    InvalidInput,
    Refused,
    TamperDetected,
    Unavailable,
)

MAX_KEYS_BYTES = 64 * 1024
MAX_BUNDLE_BYTES = TILE_WIDTH * (MAX_BUNDLE_ENTRY + 2)


@dataclass(frozen=True, slots=True)
class RemoteRefusal:
    """The log's gate said no: the rule and reason from its problem answer."""

    rule_id: str | None
    reason: str


class HttpLedgerReader:
    """`HttpLedgerReader("https://audit.example.com/v1/ledger", token)`: tiles, keys and the
    entry bundles the token may read."""

    def __init__(self, url: str, token: str | None, client: httpx.Client | None = None) -> None:
        if token is not None and not token_may_travel(url):
            raise InvalidInput(
                "--against",
                "a bearer token is sent only over https:// (or http:// to this machine's "
                "loopback: 127.0.0.0/8, ::1, localhost); use the log's https:// URL",
            )
        self._client = client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
        self._tiles = HttpTileSource(url, self._client)  # checks the URL's scheme
        self._url = url.rstrip("/")
        self._token = token

    def checkpoint(self) -> str:
        return self._tiles.checkpoint()

    def tile(self, level: int, index: int, width: int | None) -> bytes:
        return self._tiles.tile(level, index, width)

    def keys(self) -> str:
        """The log's published key list (`/keys`), or its one key (`/vkey`) on an older log."""
        for path in ("keys", "vkey"):
            status, body = self._fetch(path, {}, MAX_KEYS_BYTES)
            if status == 200:
                try:
                    return body.decode("ascii")
                except UnicodeDecodeError:
                    raise TamperDetected(f"the log's {path} is not a key list") from None
            if status != 404:
                raise Unavailable(f"{self._url}/{path} answered HTTP {status}")
        raise Unavailable(f"{self._url} serves no verifier key")

    def bundle(self, index: int, width: int | None) -> list[bytes]:
        """Entries [index*256, index*256 + (width or 256)) as the log serves them."""
        if self._token is None:
            raise AuthenticationFailed("entry bundles need a bearer token (--token-file)")
        path = entries_path(index, width)
        headers = {"Authorization": f"Bearer {self._token}"}
        status, body = self._fetch(path, headers, MAX_BUNDLE_BYTES)
        if status == 401:
            raise AuthenticationFailed(f"the log refused the token for {path}")
        if status == 403:
            raise Refused(_refusal(body))
        if status == 404:
            raise TamperDetected(f"the log does not serve {path}, which the checkpoint covers")
        if status != 200:
            raise Unavailable(f"{self._url}/{path} answered HTTP {status}")
        try:
            entries = decode_bundle(body)
        except ValueError as exc:
            raise TamperDetected(f"{path} is not an entry bundle: {exc}") from None
        if len(entries) != (width or TILE_WIDTH):
            raise TamperDetected(f"{path} holds {len(entries)} entries")
        return entries

    def _fetch(self, path: str, headers: dict[str, str], limit: int) -> tuple[int, bytes]:
        """(status, body); a body over `limit` bytes is the log's fault, not a network one."""
        url = f"{self._url}/{path}"
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                return response.status_code, read_capped(response, path, limit)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot fetch {url}: {type(exc).__name__}") from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpLedgerReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _refusal(body: bytes) -> RemoteRefusal:
    """The rule and reason of the log's RFC 9457 problem answer, as far as it gives them."""
    try:
        problem = json.loads(body)
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    rule = problem.get("rule")
    reason = problem.get("reason") or problem.get("detail") or "the log refused its entries"
    return RemoteRefusal(rule if isinstance(rule, str) else None, str(reason))
