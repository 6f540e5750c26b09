"""Request dependencies: the container and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor
from entrusted.errors import AuthenticationFailed

_bearer = HTTPBearer(auto_error=False)


def _container_of(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


async def container(request: Request) -> Container:
    """`async` because it only reads app state: FastAPI runs a plain `def` dependency in the
    thread pool, a hand-off to a worker thread and back for every request that names it."""
    return _container_of(request)


def actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("a bearer token is required")
    return _container_of(request).authenticate(credentials.credentials)


ContainerDep = Annotated[Container, Depends(container)]
ActorDep = Annotated[Actor, Depends(actor)]
