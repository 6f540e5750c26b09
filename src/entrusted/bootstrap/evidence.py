"""The evidence report (issue 19) as the composition root wires it: the log read through the
verifier's snapshot scan and signed up to now, the database facts, the rules in force, the
policy document in force, the test manifest named by the settings, and the gate."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from entrusted.adapters.db.evidence_store import SqlEvidenceFacts, entry_chunks
from entrusted.domain.evidence import TestManifest, parse_manifest
from entrusted.domain.policy_document_default import DEFAULT_TEXT
from entrusted.errors import NotFound
from entrusted.services.evidence import EvidenceService, SignedHead

if TYPE_CHECKING:
    from entrusted.bootstrap import Container


class _Log:
    def __init__(self, c: Container) -> None:
        self._c = c

    def signed_head(self) -> SignedHead:
        """A checkpoint over everything appended so far: the report counts up to it."""
        self._c.checkpoints.sign()
        head = self._c.checkpoints.latest()
        return SignedHead(head.size, head.root, head.note)

    def entry_chunks(self, size: int) -> Iterator[Sequence[bytes]]:
        return entry_chunks(self._c.engine, size)


def build_evidence(c: Container) -> EvidenceService:
    path = c.settings.effective_evidence_test_manifest

    def read_manifest() -> TestManifest | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return parse_manifest(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON: {exc.msg}") from None

    def policy_text() -> str:
        try:
            return c.policy_documents.current().version.text
        except NotFound:  # a database that never got the shipped version
            return DEFAULT_TEXT

    return EvidenceService(
        _Log(c),
        SqlEvidenceFacts(c.engine),
        c.ruleset,
        policy_text,
        read_manifest,
        c.clock,
        c.gate,
        test_source=str(path),
    )
