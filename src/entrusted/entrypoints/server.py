"""What one listener serves: the API app with, on a listener people reach, the pages mounted
beside it (`/portal`, `/console`, `/static`).

Why a module of its own: the API and the pages are independent entrypoints (import-linter
keeps `api`, `web` and `cli` apart); this is the one place that puts them together, and
`serve` and `demo` start what it builds.
"""

from __future__ import annotations

from fastapi import FastAPI

from entrusted.bootstrap import Container
from entrusted.config import Settings
from entrusted.entrypoints.api.app import create_app
from entrusted.entrypoints.api.roles import Role
from entrusted.entrypoints.web.app import mounts


def create_server_app(
    settings: Settings | None = None,
    container: Container | None = None,
    role: Role = Role.ALL,
) -> FastAPI:
    """The API (`create_app`), plus the pages unless `role` is the internal hooks listener."""
    app = create_app(settings, container, role)
    if role is not Role.HOOKS:
        for prefix, pages in mounts(app.state.container):
            app.mount(prefix, pages)
    return app
