"""The in-memory twin of `GrantStepStore` for service tests."""

from __future__ import annotations

from collections.abc import Sequence

from entrusted.domain.grant_steps import SealedStep


class InMemoryGrantSteps:
    def __init__(self) -> None:
        self.steps: list[SealedStep] = []

    def add(self, step: SealedStep) -> None:
        self.steps.append(step)

    def for_grants(self, grant_ids: Sequence[str]) -> list[SealedStep]:
        wanted = set(grant_ids)
        return sorted(
            (s for s in self.steps if s.grant_id in wanted), key=lambda s: s.ledger_index
        )
