"""The hoster's own ids for what provisioning syncs (issue 17; migration 0020), registered in
the one MetaData (`schema.py`); `tables.py` re-exports them.

A customer number may be personal-ish (printed on invoices, quoted on the phone), so it is
stored only as its keyed blind index (`crypto.blind_index.customer_number_index`), which is
also how support finds a caller by it. Contract and service numbers name no person and are
kept plain. A service's external id is unique within its contract, as the API's paths say.
"""

from __future__ import annotations

import sqlalchemy as sa

from entrusted.adapters.db.schema import metadata

EXTERNAL_ID_LENGTH = 64

provisioned_customer = sa.Table(
    "provisioned_customer",
    metadata,
    sa.Column("number_idx", sa.LargeBinary(32), primary_key=True),
    sa.Column(
        "customer_id", sa.String(40), sa.ForeignKey("customer.id"), nullable=False, unique=True
    ),
)

provisioned_contract = sa.Table(
    "provisioned_contract",
    metadata,
    sa.Column("external_id", sa.String(EXTERNAL_ID_LENGTH), primary_key=True),
    sa.Column(
        "contract_id", sa.String(40), sa.ForeignKey("contract.id"), nullable=False, unique=True
    ),
)

provisioned_service = sa.Table(
    "provisioned_service",
    metadata,
    sa.Column("contract_id", sa.String(40), sa.ForeignKey("contract.id"), primary_key=True),
    sa.Column("external_id", sa.String(EXTERNAL_ID_LENGTH), primary_key=True),
    sa.Column(
        "service_id",
        sa.String(40),
        sa.ForeignKey("hosted_service.id"),
        nullable=False,
        unique=True,
    ),
)
