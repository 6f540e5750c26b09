"""Issue 17 in the domain: the hoster's ids have one shape (no address, no blanks, at most 64
characters), kinds are read as the hoster names them, and the blind indexes of customer
numbers and domains are keyed and never collide with e-mail indexes."""

from __future__ import annotations

import pytest

from entrusted.crypto.blind_index import customer_number_index, domain_index, email_index
from entrusted.domain.provisioning import (
    Applied,
    Change,
    Entity,
    SyncReport,
    clean_external_id,
    parse_kind,
)
from entrusted.domain.registry import ServiceKind
from entrusted.errors import InvalidInput


@pytest.mark.parametrize("good", ["K-1001", "7", "ctr.2024:17", "A_b-c"])
def test_external_ids_of_the_right_shape_pass(good: str) -> None:
    assert clean_external_id(f" {good} ", "external_id") == good


@pytest.mark.parametrize("bad", ["", "anna@example.com", "K 1", "-K1", "x" * 65, "K/1"])
def test_other_text_is_no_external_id_and_the_error_does_not_quote_it(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        clean_external_id(bad, "external_id")
    assert caught.value.field == "external_id"
    assert bad.strip() == "" or bad not in caught.value.message


def test_kinds_as_the_hoster_names_them() -> None:
    assert parse_kind("web_site", "kind") is ServiceKind.WEBSITE
    assert parse_kind("Domain", "kind") is ServiceKind.DOMAIN
    assert parse_kind("ftp_space", "kind") is ServiceKind.FTP_SPACE
    with pytest.raises(InvalidInput, match="kind: must be one of"):
        parse_kind("printer", "kind")


def test_indexes_are_keyed_and_kept_apart() -> None:
    key, other = bytes(32), bytes([1]) * 32
    assert customer_number_index(key, "K-1") != customer_number_index(other, "K-1")
    assert domain_index(key, "Example.ORG.") == domain_index(key, "example.org")
    assert domain_index(key, "example.org") != email_index(key, "a@example.org")
    with pytest.raises(InvalidInput):
        domain_index(key, "not a domain")


def test_a_report_counts_every_change() -> None:
    rows = (
        Applied(Entity.CUSTOMER, "K-1", "cus_1", Change.CREATED),
        Applied(Entity.CONTRACT, "C-1", "ctr_1", Change.UNCHANGED),
        Applied(Entity.SERVICE, "m", "svc_1", Change.UNCHANGED),
    )
    assert SyncReport(rows).counts() == {
        Change.CREATED: 1, Change.UPDATED: 0, Change.UNCHANGED: 2, Change.REMOVED: 0
    }  # fmt: skip
