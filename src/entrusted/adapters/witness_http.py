"""tlog-witness over HTTP: the witness's `POST /add-checkpoint` endpoint, and the log's client.

The server is a tiny Starlette app of its own, not a route of the log's API: a witness runs at
another party, in another process, with nothing of the log's code path between a request and
its answer. Refusals answer with the status the spec prescribes and a one-line reason; a 409
carries the witness's known size as `text/x.tlog.size`, so a log that lost its place (or was
rolled back) learns from where it must prove consistency.
"""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from entrusted.domain.cosignature import AddCheckpoint
from entrusted.errors import Unavailable
from entrusted.services.witness import RefusalKind, Witness, WitnessRefused

MAX_REQUEST_BYTES = 1 << 20
SIZE_TYPE = "text/x.tlog.size"
TEXT = "text/plain; charset=utf-8"
TIMEOUT_S = 10.0


def witness_app(witness: Witness) -> Starlette:
    """The ASGI app of `entrusted witness serve`."""

    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                return PlainTextResponse("request too large\n", status_code=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("request is not UTF-8\n", status_code=400)
        try:
            lines = witness.add_checkpoint(text)
        except WitnessRefused as refused:
            return refusal_response(refused)
        return Response(lines, media_type=TEXT)

    async def vkey(_: Request) -> Response:
        return Response(witness.vkey + "\n", media_type=TEXT)

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/vkey", vkey, methods=["GET"]),
        ]
    )


def refusal_response(refused: WitnessRefused) -> Response:
    headers = {"X-Witness-Refusal": refused.kind.value}
    if refused.kind.status == 409 and refused.known_size is not None:
        headers["X-Witness-Reason"] = refused.reason
        # Exactly `text/x.tlog.size`: Starlette would append a charset to a text media type.
        headers["Content-Type"] = SIZE_TYPE
        return Response(f"{refused.known_size}\n", 409, headers=headers)
    return PlainTextResponse(refused.reason + "\n", refused.kind.status, headers=headers)


class HttpWitness:
    """The log's side: `HttpWitness(url).add_checkpoint(request)` -> cosignature lines.

    A refusal comes back as `WitnessRefused` with the witness's kind and reason (and known
    size on 409); network trouble and any other answer are `Unavailable`.
    """

    def __init__(self, url: str, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)

    def add_checkpoint(self, request: AddCheckpoint) -> str:
        try:
            response = self._client.post(
                f"{self.url}/add-checkpoint", content=request.text().encode("utf-8")
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"witness {self.url} unreachable: {type(exc).__name__}") from None
        if response.status_code == 200:
            return response.text
        kind = _KINDS.get(response.headers.get("X-Witness-Refusal", ""))
        if kind is None:
            kind = _BY_STATUS.get(response.status_code)
        if kind is None:
            raise Unavailable(f"witness {self.url} answered HTTP {response.status_code}")
        if response.status_code == 409:
            reason = response.headers.get("X-Witness-Reason", "conflict")
            size = response.text.strip()
            raise WitnessRefused(kind, reason, int(size) if size.isdigit() else None)
        raise WitnessRefused(kind, response.text.strip()[:500])

    def close(self) -> None:
        self._client.close()


_KINDS = {k.value: k for k in RefusalKind}
_BY_STATUS = {
    400: RefusalKind.MALFORMED,
    403: RefusalKind.BAD_SIGNATURE,
    404: RefusalKind.UNKNOWN_LOG,
    409: RefusalKind.STALE_OLD_SIZE,
    422: RefusalKind.BAD_PROOF,
}
