"""`/v1/ftp-spaces/{name}/sizes` (P9, in P13's spirit): an FTP backup space's file count and
total size for support, never a name; decided by the gate and ledgered."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from entrusted.entrypoints.api.deps import ActorDep, ContainerDep

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
def sizes(name: str, who: ActorDep, c: ContainerDep) -> FtpSpaceSizesOut:
    got = c.ftp_space_monitor.sizes(who, name)
    return FtpSpaceSizesOut(service_id=got.service_id, files=got.files, bytes=got.bytes)
