"""Provisioning sync (issue 17): the hoster's own ids for customers, contracts and hosted
services, and removed services kept as tombstones.

`hosted_service.removed_at` marks a service the provisioning system removed: its row stays,
since grants, access requests and FTP passwords name it, but the registry no longer lists it
and its name index is cleared (the name may be hosted again).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosted_service") as batch:
        batch.add_column(sa.Column("removed_at", UTCDateTime, nullable=True))
    op.create_table(
        "provisioned_customer",
        sa.Column("number_idx", sa.LargeBinary(32), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_provisioned_customer_customer_id_customer"
        ),
        sa.PrimaryKeyConstraint("number_idx", name="pk_provisioned_customer"),
        sa.UniqueConstraint("customer_id", name="uq_provisioned_customer_customer_id"),
    )
    op.create_table(
        "provisioned_contract",
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name="fk_provisioned_contract_contract_id_contract"
        ),
        sa.PrimaryKeyConstraint("external_id", name="pk_provisioned_contract"),
        sa.UniqueConstraint("contract_id", name="uq_provisioned_contract_contract_id"),
    )
    op.create_table(
        "provisioned_service",
        sa.Column("contract_id", sa.String(40), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name="fk_provisioned_service_contract_id_contract"
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["hosted_service.id"],
            name="fk_provisioned_service_service_id_hosted_service",
        ),
        sa.PrimaryKeyConstraint("contract_id", "external_id", name="pk_provisioned_service"),
        sa.UniqueConstraint("service_id", name="uq_provisioned_service_service_id"),
    )


def downgrade() -> None:
    op.drop_table("provisioned_service")
    op.drop_table("provisioned_contract")
    op.drop_table("provisioned_customer")
    with op.batch_alter_table("hosted_service") as batch:
        batch.drop_column("removed_at")
