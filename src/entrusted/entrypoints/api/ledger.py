"""The ledger over HTTP in the C2SP tlog-tiles layout, so third-party verifiers work unchanged.

`GET /v1/ledger/checkpoint`, `/v1/ledger/tile/<L>/<N>[.p/<W>]` and `/v1/ledger/vkey` are
public and unauthenticated: they reveal only hashes and signed tree heads, and anyone must be
able to fetch them to hold the operator to one history (witnesses, customers, auditors).

Entry bundles (`/v1/ledger/tile/entries/<N>[.p/<W>]`) are *not* public. An entry names ids,
not personal details, but together they say which customer's data was touched, when, by whom
and under which case or court order; published, they would let anyone profile a customer's
support history, and the random nonce in each entry (there so leaf hashes cannot be
confirmed by guessing) would protect nothing. So bundles need a bearer token and pass the
gate like any other read of the ledger (the shipped policy lets sysadmin and legal audit it),
which records the read in the ledger itself. Customers get their own entries, with proofs,
as receipts (`entrusted ledger export`).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from entrusted.domain.ledger import (
    TILE_WIDTH,
)
from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.domain.tiles import (
    encode_bundle,
    parse_entries_path,
    parse_tile_path,
)
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.errors import NotFound

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"  # a full tile never changes
PARTIAL = (
    "public, max-age=60"  # a partial tile's bytes never change, but it gives way to a full one
)


@router.get(
    "/checkpoint",
    summary="The latest signed checkpoint (C2SP tlog-checkpoint signed note), followed by "
    "its witnesses' cosignature lines (C2SP tlog-cosignature)",
    response_class=Response,
    responses={200: {"content": {TEXT: {}}}},
)
def checkpoint(c: ContainerDep) -> Response:
    latest = c.checkpoints.published()
    if latest is None:
        raise NotFound("ledger checkpoint", "latest")
    return Response(latest.note, media_type=TEXT, headers={"Cache-Control": "no-cache"})


@router.get(
    "/vkey",
    summary="The verifier key that signs checkpoints (signed-note vkey)",
    response_class=Response,
    responses={200: {"content": {TEXT: {}}}},
)
def vkey(c: ContainerDep) -> Response:
    return Response(c.checkpoints.vkey + "\n", media_type=TEXT)


@router.get(
    "/keys",
    summary="Every key the log has signed checkpoints with, one per line, oldest first: "
    "`<vkey>`, or `<vkey> until=<size>` for a retired key, which vouches for no larger "
    "checkpoint; a checkpoint's key id picks its key (see docs/keys.md)",
    response_class=Response,
    responses={200: {"content": {TEXT: {}}}},
)
def keys(c: ContainerDep) -> Response:
    return Response(c.checkpoints.key_list + "\n", media_type=TEXT)


# Declared before the hash tiles, whose `{level}` would otherwise match "entries".
@router.get(
    "/tile/entries/{path:path}",
    summary="An entry bundle (C2SP tlog-tiles); needs a token and passes the gate",
    response_class=Response,
    responses={200: {"content": {BINARY: {}}}},
)
def entry_bundle(path: str, c: ContainerDep, who: ActorDep) -> Response:
    try:
        index, width = parse_entries_path(f"tile/entries/{path}")
    except ValueError:
        raise NotFound("ledger entry bundle", path) from None
    c.gate.decide(who, Action.READ, Resource(ResourceKind.LEDGER, f"entries/{path}"))
    lo = index * TILE_WIDTH
    hi = lo + (width or TILE_WIDTH)
    entries = c.ledger_store.entries(lo, hi) if hi <= c.ledger_store.stored_size() else []
    if len(entries) != hi - lo:
        raise NotFound("ledger entry bundle", path)
    return Response(
        encode_bundle(entries), media_type=BINARY, headers={"Cache-Control": "private, no-store"}
    )


@router.get(
    "/tile/{level}/{path:path}",
    summary="A hash tile (C2SP tlog-tiles): full tiles are immutable",
    response_class=Response,
    responses={200: {"content": {BINARY: {}}}},
)
def hash_tile(level: str, path: str, c: ContainerDep) -> Response:
    try:
        lv, index, width = parse_tile_path(f"tile/{level}/{path}")
    except ValueError:
        raise NotFound("ledger tile", f"{level}/{path}") from None
    data = c.ledger_store.tile(lv, index, width)
    cache = IMMUTABLE if width is None else PARTIAL
    return Response(data, media_type=BINARY, headers={"Cache-Control": cache})
