"""Which kind of id each request field holds, and what it names when a malformed one is
refused (`OutcomeRecorder.invalid_id`): one table for every entrypoint, so the API and the
pages ledger the same field under the same resource kind (two copies had drifted: the
console once ledgered a customer id under `disclosure`)."""

from __future__ import annotations

from entrusted.domain.ids import IdKind
from entrusted.domain.policy import ResourceKind

FIELDS: dict[str, tuple[IdKind, ResourceKind]] = {
    "customer_id": (IdKind.CUSTOMER, ResourceKind.PERSONAL_DETAILS),
    "holder_id": (IdKind.CUSTOMER, ResourceKind.PERSONAL_DETAILS),
    "to_customer": (IdKind.CUSTOMER, ResourceKind.PERSONAL_DETAILS),
    "contract_id": (IdKind.CONTRACT, ResourceKind.CONTRACT),
    "service_id": (IdKind.SERVICE, ResourceKind.CONTRACT),
    "case_id": (IdKind.CASE, ResourceKind.CASE),
    "request_id": (IdKind.ACCESS_REQUEST, ResourceKind.GRANT),
    "grant_id": (IdKind.GRANT, ResourceKind.GRANT),
    "session_id": (IdKind.GRANT_SESSION, ResourceKind.GRANT),
    "identification_id": (IdKind.IDENTIFICATION, ResourceKind.PERSONAL_DETAILS),
    "backup_id": (IdKind.BACKUP, ResourceKind.BACKUP),
    "mailing_id": (IdKind.MAILING, ResourceKind.MAILING),
    "order_id": (IdKind.COURT_ORDER, ResourceKind.DISCLOSURE),
    "disclosure_id": (IdKind.DISCLOSURE, ResourceKind.DISCLOSURE),
    "third_party_request_id": (IdKind.THIRD_PARTY_REQUEST, ResourceKind.DISCLOSURE),
}
