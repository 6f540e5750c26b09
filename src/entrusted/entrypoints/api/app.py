"""The FastAPI application factory: routers per area, one error table, OpenAPI."""

from __future__ import annotations

from fastapi import FastAPI

from entrusted import __version__
from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.entrypoints.api import (
    access_requests,
    cases,
    contracts,
    customers,
    grants,
    health,
    identifications,
    ledger,
    mail,
    problems,
    staff,
)


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    if container is None:
        container = build(settings or Settings())
    app = FastAPI(
        title="Entrusted",
        version=__version__,
        description="Enforce and prove a hosting provider's privacy policy.",
    )
    app.state.container = container
    problems.install(app)
    app.include_router(health.router)
    app.include_router(staff.router)
    app.include_router(ledger.router)
    app.include_router(customers.router)
    app.include_router(contracts.router)
    app.include_router(identifications.router)
    app.include_router(cases.router)
    app.include_router(access_requests.router)
    app.include_router(grants.router)
    app.include_router(mail.router)
    return app
