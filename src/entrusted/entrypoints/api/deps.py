"""Request dependencies: the container and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor
from entrusted.errors import AuthenticationFailed

_bearer = HTTPBearer(auto_error=False)


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("a bearer token is required")
    return container(request).authenticate(credentials.credentials)


ContainerDep = Annotated[Container, Depends(container)]
ActorDep = Annotated[Actor, Depends(actor)]
