"""`/v1/ftp-spaces/{name}/sizes` (P9, in P13's spirit): an FTP backup space's file count and
total size for support, never a name; a look-up like a customer's summary (`?case_id=` or
`?ticket=`, throttled), decided by the gate and ledgered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.services.gate import AccessContext

router = APIRouter(prefix="/v1", tags=["ftp"])


class FtpSpaceSizesOut(BaseModel):
    service_id: str
    files: int
    bytes: int


@router.get(
    "/ftp-spaces/{name}/sizes",
    response_model=FtpSpaceSizesOut,
    summary="An FTP space's file count and total size",
)
def sizes(
    name: str,
    who: ActorDep,
    c: ContainerDep,
    case_id: ids.CaseQuery,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
) -> FtpSpaceSizesOut:
    reason = AccessContext(case_id=case_id, ticket=ticket)
    got = c.ftp_space_monitor.sizes(who, name, reason)
    return FtpSpaceSizesOut(service_id=got.service_id, files=got.files, bytes=got.bytes)
