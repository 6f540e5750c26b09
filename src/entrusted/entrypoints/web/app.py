"""The two page apps and their static files, as ASGI apps to mount beside the API.

```python
for prefix, app in mounts(container):
    api.mount(prefix, app)          # entrypoints/server.py does this
```
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from entrusted.bootstrap import Container
from entrusted.entrypoints.web import console, errors, portal
from entrusted.entrypoints.web.sessions import CONSOLE, PORTAL, Area, form_guard

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _pages_app(container: Container, area: Area) -> FastAPI:
    # No OpenAPI document: these are pages, not an API (the API documents itself).
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(form_guard)]
    )
    app.state.container = container
    app.state.area = area
    return app


def create_portal_app(container: Container) -> FastAPI:
    app = _pages_app(container, PORTAL)
    errors.install(app, PORTAL)
    for router in portal.ROUTERS:
        app.include_router(router)
    return app


def create_console_app(container: Container) -> FastAPI:
    app = _pages_app(container, CONSOLE)
    errors.install(app, CONSOLE)
    for router in console.ROUTERS:
        app.include_router(router)
    return app


def mounts(container: Container) -> list[tuple[str, ASGIApp]]:
    """Where each app is mounted: the portal, the console, the pages' stylesheet and script."""
    return [
        (PORTAL.path, create_portal_app(container)),
        (CONSOLE.path, create_console_app(container)),
        ("/static", StaticFiles(directory=STATIC_DIR)),
    ]
