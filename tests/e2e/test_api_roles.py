"""The two apps one `create_app` builds (issue 17 item 4): the public one has no hook route,
the hooks one nothing but the hooks and the health routes, and together they serve every
route the one-listener app serves, none twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from entrusted.bootstrap import Container, build, initialise
from entrusted.config import Settings
from entrusted.entrypoints.api.app import EVERYWHERE_ROUTERS, INTERNAL_ROUTERS, create_app
from entrusted.entrypoints.api.roles import Role

HOOK_PATHS = {"/v1/gate/mail-login", "/v1/ftp/login", "/v1/ftp/step", "/v1/ftp/still-live",
              "/v1/ftp/refuse-write", "/v1/ftp/logout"}  # fmt: skip


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = Settings(data_dir=tmp_path / "data")
    initialise(settings)
    c = build(settings)
    yield c
    c.close()


def paths(routers: tuple[APIRouter, ...]) -> set[str]:
    return {getattr(r, "path", "") for router in routers for r in router.routes}


def served(container: Container, role: Role) -> set[tuple[str, str]]:
    """(method, path) of every operation the role's app serves, read from its router tree."""
    app = create_app(container=container, role=role)
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        _collect(route, found)
    return found


def _collect(route: BaseRoute, found: set[tuple[str, str]]) -> None:
    # FastAPI 0.16x keeps an included router as one node (`original_router`); older ones
    # copy its routes. create_app includes every router without an extra prefix.
    inner = getattr(route, "original_router", None)
    for child in inner.routes if inner is not None else ():
        _collect(child, found)
    for method in getattr(route, "methods", None) or ():
        found.add((method, getattr(route, "path", "")))


def test_the_split_keeps_every_route_exactly_once(container: Container) -> None:
    everything = served(container, Role.ALL)
    public, hooks = served(container, Role.PUBLIC), served(container, Role.HOOKS)
    shared = {op for op in everything if op[1] in paths(EVERYWHERE_ROUTERS)}
    docs = {op for op in everything if op[1] == "/openapi.json"}
    assert shared
    assert public | hooks == everything
    assert public & hooks == shared
    assert {p for _, p in hooks} == paths(INTERNAL_ROUTERS) | paths(EVERYWHERE_ROUTERS)
    assert {p for _, p in hooks} >= HOOK_PATHS
    assert not HOOK_PATHS & {p for _, p in public}
    assert docs <= public
    assert not docs & hooks


def test_each_app_answers_404_for_the_other_listeners_routes(container: Container) -> None:
    with TestClient(create_app(container=container, role=Role.PUBLIC)) as public:
        for path in HOOK_PATHS:
            assert public.post(path, json={}).status_code == 404
        assert public.get("/v1/me").status_code == 401
        assert public.get("/healthz").status_code == 200
        assert not HOOK_PATHS & set(public.get("/openapi.json").json()["paths"])
    with TestClient(create_app(container=container, role=Role.HOOKS)) as hooks:
        for path in HOOK_PATHS:
            assert hooks.post(path, json={}).status_code == 401  # there: it wants a token
        for path in ("/v1/me", "/openapi.json", "/docs", "/portal"):
            assert hooks.get(path).status_code == 404, path
        assert hooks.get("/healthz").status_code == 200
