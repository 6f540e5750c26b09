"""The two page apps and their static files, as ASGI apps to mount beside the API.

```python
for prefix, app in mounts(container):
    api.mount(prefix, app)          # entrypoints/server.py does this
```
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from entrusted.bootstrap import Container
from entrusted.entrypoints.web import console, errors, portal
from entrusted.entrypoints.web.sessions import CONSOLE, PORTAL, Area, form_guard

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _pages_app(container: Container, area: Area, routers: Iterable[APIRouter]) -> FastAPI:
    # No OpenAPI document: these are pages, not an API (the API documents itself).
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(form_guard)]
    )
    app.state.container = container
    app.state.area = area
    errors.install(app, area)
    for router in routers:
        app.include_router(router)
    return app


def create_portal_app(container: Container) -> FastAPI:
    return _pages_app(container, PORTAL, portal.ROUTERS)


def create_console_app(container: Container) -> FastAPI:
    return _pages_app(container, CONSOLE, console.ROUTERS)


def mounts(container: Container) -> list[tuple[str, ASGIApp]]:
    """Where each app is mounted: the portal, the console, the pages' stylesheet and script."""
    return [
        (PORTAL.path, create_portal_app(container)),
        (CONSOLE.path, create_console_app(container)),
        ("/static", StaticFiles(directory=STATIC_DIR)),
    ]
