"""The in-memory twin of `PolicyDocumentStore` for service tests; production wires the SQL
store (`adapters/db/policy_document_store.py`), never this."""

from __future__ import annotations

from entrusted.domain.policy_document import PolicyVersion
from entrusted.errors import Conflict


class InMemoryPolicyDocumentStore:
    def __init__(self, *versions: PolicyVersion) -> None:
        self.rows: dict[int, PolicyVersion] = {v.number: v for v in versions}

    def versions(self) -> list[PolicyVersion]:
        return [self.rows[n] for n in sorted(self.rows)]

    def get(self, number: int) -> PolicyVersion | None:
        return self.rows.get(number)

    def add(self, version: PolicyVersion) -> None:
        if version.number in self.rows:
            raise Conflict(f"policy document version {version.number} exists")
        self.rows[version.number] = version
