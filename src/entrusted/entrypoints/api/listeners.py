"""The app one listener runs (roles.py says why there are two): `RoleApp` includes only the
routers its role serves, so `create_app` lists every router once, in one place, and builds
either app; `ByListener` serves both from one process on two sockets.

A router is public unless `create_app` names it internal or everywhere: a router added later
never lands on the hooks listener by accident."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from entrusted.entrypoints.api.roles import Role


class RoleApp(FastAPI):
    """FastAPI whose `include_router` skips the routers of the other listener. The hooks
    listener has no OpenAPI document or docs pages: its callers are two programs."""

    def __init__(
        self,
        role: Role,
        internal: Collection[APIRouter],
        everywhere: Collection[APIRouter],
        **options: Any,
    ) -> None:
        if role is Role.HOOKS:
            options.update(openapi_url=None, docs_url=None, redoc_url=None)
        super().__init__(**options)
        self.role = role
        self._internal = tuple(internal)
        self._everywhere = tuple(everywhere)

    def serves(self, router: APIRouter) -> bool:
        if self.role is Role.ALL or any(router is r for r in self._everywhere):
            return True
        internal = any(router is r for r in self._internal)
        return internal == (self.role is Role.HOOKS)

    def include_router(self, router: APIRouter, *args: Any, **kwargs: Any) -> None:
        if self.serves(router):
            super().include_router(router, *args, **kwargs)


class ByListener:
    """One ASGI app for one server with two sockets: a request that came in on the hooks
    socket goes to the hooks app, any other to the public one (so a hook is never reachable
    on the public socket). Lifespan events go to the public app; both share one container."""

    def __init__(self, public: ASGIApp, hooks: ASGIApp, hooks_address: tuple[str, int]) -> None:
        self.public = public
        self.hooks = hooks
        self.hooks_address = hooks_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") if scope["type"] != "lifespan" else None
        if server is not None and (server[0], server[1]) == self.hooks_address:
            await self.hooks(scope, receive, send)
        else:
            await self.public(scope, receive, send)
