"""`GET /metrics`: this process's Prometheus metrics (docs/operations.md). Guarded by the token
in `metrics_token_file`, or without one answered to loopback clients only; with the listeners
split, only the internal one serves it. Not ledgered: it carries counts by rule, job, witness
and status, never a customer's id or details, and ledgering every scrape (or every refused
one, which anyone could send) would drown the log."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from entrusted.entrypoints.api.deps import ContainerDep
from entrusted.errors import AuthenticationFailed

router = APIRouter(tags=["health"])
PROBLEM = {"$ref": "#/components/schemas/Problem"}


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."},
        401: {
            "description": "No valid metrics token (or, without one, not a loopback client).",
            "content": {"application/problem+json": {"schema": PROBLEM}},
        },
        503: {
            "description": "`metrics_token_file` is set but unreadable, or open to others.",
            "content": {"application/problem+json": {"schema": PROBLEM}},
        },
    },
)
def metrics(request: Request, c: ContainerDep) -> Response:
    client = request.client.host if request.client else None
    if not c.observability.metrics_allowed(client, dict(request.headers)):
        raise AuthenticationFailed("metrics need the token of metrics_token_file or loopback")
    return Response(c.observability.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
