"""What staff opened under a grant, by name, sealed for the customer's closing summary (issue 14 item 3).

Revision ID: 0014
Revises: 0013
"""

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
