"""A log's public C2SP tlog-tiles endpoints over HTTP, for `ledger monitor` and
`verify-receipt --against`: the checkpoint and hash tiles, size-capped, nothing else.

Network trouble is `Unavailable` (try again later); a tile the checkpoint needs but the log
does not serve is the log's failure to prove itself, so the caller reports it as tampering.
"""

from __future__ import annotations

import time

import httpx

from entrusted.domain.checkpoint import MAX_NOTE_CHARS
from entrusted.domain.ledger import HASH_SIZE, TILE_WIDTH
from entrusted.domain.tiles import tile_path
from entrusted.errors import InvalidInput, TamperDetected, Unavailable

TIMEOUT_S = 30.0  # per read: a server that sends nothing for this long is gone
DEADLINE_S = 120.0  # per answer: a server trickling a byte at a time must not stall a monitor


def read_capped(response: httpx.Response, path: str, limit: int) -> bytes:
    """The body of a streamed answer, at most `limit` bytes (more is the log's fault) and
    within `DEADLINE_S` (`Unavailable` otherwise: try again later, or ask another copy)."""
    deadline = time.monotonic() + DEADLINE_S
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise TamperDetected(f"{path} is larger than {limit} bytes")
        if time.monotonic() > deadline:
            raise Unavailable(f"{path} took longer than {DEADLINE_S:.0f} s to arrive")
    return bytes(body)


class HttpTileSource:
    """`HttpTileSource("https://audit.example.com/v1/ledger")`: the URL the tiles live under."""

    def __init__(self, url: str, client: httpx.Client | None = None) -> None:
        if not url.startswith(("https://", "http://")):
            raise InvalidInput("url", "the log's URL must start with https:// or http://")
        self._url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)

    def _get(self, path: str, limit: int) -> bytes:
        url = f"{self._url}/{path}"
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    raise TamperDetected(
                        f"the log does not serve {path}, which its checkpoint needs"
                    )
                if response.status_code != 200:
                    raise Unavailable(f"{url} answered HTTP {response.status_code}")
                return read_capped(response, path, limit)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot fetch {url}: {type(exc).__name__}") from None

    def checkpoint(self) -> str:
        try:
            return self._get("checkpoint", MAX_NOTE_CHARS).decode("utf-8")
        except UnicodeDecodeError:
            raise TamperDetected("the log's checkpoint is not UTF-8") from None

    def tile(self, level: int, index: int, width: int | None) -> bytes:
        return self._get(tile_path(level, index, width), TILE_WIDTH * HASH_SIZE)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpTileSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
