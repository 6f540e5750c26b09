"""The FastAPI application factory: routers per area, one error table, OpenAPI."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from entrusted import __version__
from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.entrypoints.api import (
    access_requests,
    backups,
    cases,
    contracts,
    customers,
    disclosures,
    evidence,
    ftp_gate,
    ftp_password,
    ftp_space_monitor,
    grants,
    health,
    identifications,
    ledger,
    mail,
    mailings,
    metrics,
    policy_document,
    problems,
    provisioning,
    staff,
)
from entrusted.entrypoints.api.listeners import RoleApp
from entrusted.entrypoints.api.middleware import BodyLimit, NoNul, SecurityHeaders
from entrusted.entrypoints.api.roles import Role

# Called by the mail and FTP servers, never by people: with the roles split (`serve --role`,
# `hooks_listen`) only the internal listener serves these. List an internal router here.
# /metrics too: for the operator's scraper, not the public (it also asks a token or loopback).
INTERNAL_ROUTERS: tuple[APIRouter, ...] = (mail.gate_router, ftp_gate.router, metrics.router)
# Served by every listener: liveness and readiness, for a load balancer as for systemd.
EVERYWHERE_ROUTERS: tuple[APIRouter, ...] = (health.router,)


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    role: Role = Role.ALL,
) -> FastAPI:
    """The API; `role` serves only the public or only the internal routes (listeners.py)."""
    if container is None:
        container = build(settings or Settings())
    docs = container.settings.api_docs
    app = RoleApp(
        role,
        internal=INTERNAL_ROUTERS,
        everywhere=EVERYWHERE_ROUTERS,
        title="Entrusted",
        version=__version__,
        description="Enforce and prove a hosting provider's privacy policy.",
        # The docs pages load their scripts from a CDN: off unless the operator asks.
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        lifespan=_lifespan(container.settings.worker_threads),
    )
    app.state.container = container
    problems.install(app)
    app.add_middleware(NoNul)  # inside BodyLimit: the body it reads is bounded
    app.add_middleware(BodyLimit, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(
        SecurityHeaders, docs_paths=frozenset({"/docs", "/redoc"}) if docs else frozenset()
    )
    if container.settings.trusted_proxies:
        # Outermost: rate limits and the ledger see the client a trusted proxy names, and
        # X-Forwarded-For from anyone else is ignored (uvicorn's own handling is off).
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=list(container.settings.trusted_proxies)
        )
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(staff.router)
    app.include_router(ledger.router)
    app.include_router(evidence.router)
    app.include_router(customers.router)
    app.include_router(contracts.router)
    app.include_router(identifications.router)
    app.include_router(cases.router)
    app.include_router(access_requests.router)
    app.include_router(grants.router)
    app.include_router(backups.router)
    app.include_router(disclosures.orders_router)
    app.include_router(disclosures.router)
    app.include_router(mail.router)
    app.include_router(mail.gate_router)
    app.include_router(mailings.router)
    app.include_router(ftp_space_monitor.router)
    app.include_router(ftp_password.router)
    app.include_router(ftp_gate.router)
    app.include_router(policy_document.pages)
    app.include_router(policy_document.router)
    app.include_router(provisioning.router)
    _document_problems(app)
    return app


def _lifespan(threads: int) -> Any:
    """What a serving process does once it has started, before the first request.

    - It sizes the pool the blocking handlers run on (`worker_threads`). Why: the
      framework's 40 threads, all runnable at once on two cores, only take turns on the
      interpreter lock. The mail-login gate answered as many logins with 8, and its slowest
      1% in 0.5-0.6 s instead of 1.7-2.0 s (32 connections, `bench api`).
    - It moves everything built so far (modules, compiled templates, the policy, the app)
      out of the garbage collector's way (`gc.freeze`). Why: a full collection otherwise
      walks all of it, ~100 ms during which every request in flight waits. About one
      request in 240 of the portal's history page met one, which made the page's p99.
      Undone when the app stops, so a process that runs apps one after another (the
      tests) does not keep each one's cycles for good."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # what this app held becomes collectable again once it stops

    return lifespan


def _document_problems(app: FastAPI) -> None:
    """The OpenAPI document with every operation's problem answers (built once, on demand)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.document(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes,
            ))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
