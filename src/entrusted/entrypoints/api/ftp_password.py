"""`/v1/ftp-spaces/{service_id}/password` (P9): the customer sets the FTP login password of
their own space; the gate decides (never staff) and the ledger holds the decision and
`ftp.password-set`. A `service_id` of another shape is 422, ledgered under the placeholder
id. The password itself is in the body, never in the URL or a log."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.ids import ServiceId
from entrusted.entrypoints.api.strict import StrictIn

router = APIRouter(prefix="/v1", tags=["ftp"])


class FtpPasswordIn(StrictIn):
    password: str = Field(min_length=1, max_length=1024)


@router.put(
    "/ftp-spaces/{service_id}/password",
    status_code=204,
    summary="Set the FTP login password of one's own FTP space",
)
def set_password(
    service_id: ServiceId, body: FtpPasswordIn, who: ActorDep, c: ContainerDep
) -> Response:
    c.ftp_passwords.set(who, service_id, body.password)
    return Response(status_code=204)
