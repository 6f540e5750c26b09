"""Third-party request texts sealed, not stored in clear (P2; issue 16 trial finding).

`third_party_request.requester` and `.asked` become binary: the desk stores them sealed from
now on (`crypto.documents.seal_text`). A migration has no master key, so rows recorded before
this revision cannot be sealed here: each of their texts is kept as `0x00 || UTF-8 text`, the
legacy format `crypto.documents.open_text` reads as it is (docs/disclosures.md says so).

The downgrade turns legacy texts back into text; it refuses while any row holds a sealed text,
which without the key it could only drop or keep unreadable.

Revision ID: 0019
Revises: 0018
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_FIELDS = ("requester", "asked")
_LEGACY = b"\x00"  # crypto.documents.LEGACY_PLAINTEXT; kept here, as migrations stay as written


def _rows(conn: sa.Connection) -> list[sa.Row[tuple[str, object, object]]]:
    return list(conn.execute(sa.text("SELECT id, requester, asked FROM third_party_request")))


def _alter(to: sa.types.TypeEngine[Any], using: str) -> None:
    """Change both columns' type; on PostgreSQL with `using` (a format with the column's name),
    on SQLite by the batch copy, which keeps each value as it was (rewritten after)."""
    with op.batch_alter_table("third_party_request") as batch:
        for name in _FIELDS:
            batch.alter_column(
                name, type_=to, existing_nullable=False, postgresql_using=using.format(name)
            )


def upgrade() -> None:
    conn = op.get_bind()
    rows = _rows(conn)
    _alter(sa.LargeBinary(), "convert_to({0}, 'UTF8')")
    update = sa.text(
        "UPDATE third_party_request SET requester = :requester, asked = :asked WHERE id = :id"
    ).bindparams(sa.bindparam("requester", type_=sa.LargeBinary),
                 sa.bindparam("asked", type_=sa.LargeBinary))  # fmt: skip
    for row in rows:
        conn.execute(update, {
            "id": row.id,
            **{f: _LEGACY + str(getattr(row, f)).encode("utf-8") for f in _FIELDS},
        })  # fmt: skip


def downgrade() -> None:
    conn = op.get_bind()
    rows = _rows(conn)
    texts: list[dict[str, str]] = []
    for row in rows:
        values = {f: bytes(getattr(row, f)) for f in _FIELDS}
        if any(not v.startswith(_LEGACY) for v in values.values()):
            raise RuntimeError(
                f"third-party request {row.id} holds sealed texts; a downgrade below 0019 would "
                "store them in clear or lose them, so it is refused"
            )
        texts.append({"id": row.id, **{f: v[1:].decode("utf-8") for f, v in values.items()}})
    # PostgreSQL text holds no NUL: the legacy mark is dropped in the cast.
    _alter(sa.String(500), "convert_from(substring({0} from 2), 'UTF8')")
    update = sa.text(
        "UPDATE third_party_request SET requester = :requester, asked = :asked WHERE id = :id"
    )
    for text in texts:
        conn.execute(update, text)
