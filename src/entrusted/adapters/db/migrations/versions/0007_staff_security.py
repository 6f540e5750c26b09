"""Staff security: TOTP replay guard, encrypted TOTP seeds, enrolment that keeps the old seed.

The clear `totp_secret` column goes. A seed that sat in clear must be treated as exposed, and
this migration has no master key to seal it with, so an enrolled staff member is switched back
to "not enrolled" and must enrol again (`entrusted staff totp-enrol`); with TOTP required for
staff (the default) they cannot log in until they have. The downgrade cannot restore a sealed
seed in clear either: it leaves everyone unenrolled.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite >= 3.35 drops columns natively): a batch-mode
# rebuild of `staff` would drop the table, and foreign keys cascade that to `staff_role`.
def _drop(column: str) -> None:
    op.execute(f"ALTER TABLE staff DROP COLUMN {column}")


def upgrade() -> None:
    op.execute("UPDATE staff SET totp_enabled = false WHERE totp_secret IS NOT NULL")
    _drop("totp_secret")
    op.add_column("staff", sa.Column("totp_seed", sa.LargeBinary(256), nullable=True))
    op.add_column("staff", sa.Column("totp_pending_seed", sa.LargeBinary(256), nullable=True))
    op.add_column("staff", sa.Column("totp_last_step", sa.BigInteger, nullable=True))


def downgrade() -> None:
    op.execute("UPDATE staff SET totp_enabled = false")
    for column in ("totp_last_step", "totp_pending_seed", "totp_seed"):
        _drop(column)
    op.add_column("staff", sa.Column("totp_secret", sa.String(64), nullable=True))
