"""A third-party request's texts that name a customer are sealed (P2; issue 16 trial
finding), on SQLite and PostgreSQL: after a request naming an e-mail address is recorded, no
table holds the address in any form the database shows; legal reads it back; a sealed text
moved to another field or request does not open."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from faker import Faker

from entrusted.adapters.db import tables as t
from entrusted.errors import TamperDetected
from entrusted.services.court_orders import RequestForm
from tests.e2e.test_api_id_shapes import database_text
from tests.integration import test_disclosures as base
from tests.integration.test_disclosures import Desk, ids

pytestmark = pytest.mark.promise("P2", "P5")

desk = base.desk  # the desk's fixture: three customers, two legal officers, a support member


def _stored(desk: Desk, request_id: str) -> dict[str, bytes]:
    tbl = t.third_party_request
    with desk.c.engine.connect() as conn:
        row = conn.execute(
            sa.select(tbl.c.requester, tbl.c.asked).where(tbl.c.id == request_id)
        ).one()
    return {"requester": bytes(row.requester), "asked": bytes(row.asked)}


def test_a_requests_texts_are_sealed_and_legal_reads_them(desk: Desk) -> None:
    fake = Faker()
    Faker.seed(1916)
    address, officer = fake.email(), f"Det. {fake.last_name()} <{fake.email()}>"
    asked = f"all data of {address}"
    request = desk.c.desk.orders.record_request(
        desk.legal, RequestForm(officer, "Kantonspolizei", asked, "StPO Art. 265", ids(desk)[:1])
    )
    raw = database_text(desk.c.engine)
    for secret in (address, officer, asked, address.split("@")[0]):
        assert secret not in raw
    assert "Kantonspolizei" in raw  # the other texts stay in clear, as documented
    stored = _stored(desk, request.id)
    assert all(v[:1] == b"\x01" for v in stored.values())
    [listed] = desk.c.desk.orders.requests(desk.legal)
    assert (listed.id, listed.requester, listed.asked) == (request.id, officer, asked)


def test_a_sealed_text_moved_elsewhere_does_not_open(desk: Desk) -> None:
    orders = desk.c.desk.orders
    first = orders.record_request(desk.legal, RequestForm("A", "B", "C", "D"))
    second = orders.record_request(desk.legal, RequestForm("E", "F", "G", "H"))
    tbl = t.third_party_request
    one, two = _stored(desk, first.id), _stored(desk, second.id)
    for target, values in (
        (first.id, {"requester": one["asked"]}),  # another field of the same request
        (first.id, {"asked": two["asked"]}),  # the same field of another request
    ):
        with desk.c.engine.begin() as conn:
            conn.execute(tbl.update().where(tbl.c.id == target).values(**values))
        with pytest.raises(TamperDetected):
            orders.requests(desk.legal)
        with desk.c.engine.begin() as conn:
            conn.execute(tbl.update().where(tbl.c.id == first.id).values(**one))
    assert {r.asked for r in orders.requests(desk.legal)} == {"C", "G"}
