"""My access history (issue 18): the portal lists every ledgered access to the signed-in
customer's data, allowed and refused, under its support case (or outside any), naming staff by
display name, never by id; a resolved case has its closing summary; each entry has a receipt
that verifies offline, and only its owner gets it; the public "how to verify" page and the
consistency proofs its script needs. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from entrusted.bootstrap import Container
from entrusted.domain.checkpoint import b64decode_strict
from entrusted.domain.ids import IdKind, is_id
from entrusted.domain.ledger import verify_consistency
from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.errors import Refused
from entrusted.services.access_history import PAGE_SIZE
from entrusted.services.court_orders import OrderForm
from entrusted.services.gate import AccessContext
from entrusted.services.receipts import verify_receipt
from tests.e2e.web_support import (
    CUSTOMER_PASSWORD,
    STAFF_PASSWORD,
    client,
    console_sign_in,
    ledgered,
    portal_sign_in,
    register_customer,
    signed_up,
)
from tests.integration.test_registry_sql import staff

pytestmark = pytest.mark.promise("P3", "P11", "P14")

__all__ = ["client"]  # the fixture, imported to be found

CARLA = "carla.history@example.com"
DORA = "dora.history@example.com"
_ROW = re.compile(r'<tr id="entry-(\d+)" data-index="\d+" data-decision="(allow|deny)">')


@dataclass
class World:
    carla: str
    dora: str
    contract: str
    mailbox: str
    case: str
    sam: dict[str, str]


def world(client: TestClient, container: Container) -> World:
    """Carla with a mailbox, Dora, support agent Sam Example; Sam opens a case on Carla's
    contract (allowed) and is refused her mailbox's content under it (refused)."""
    carla, contract = _register_with_mailbox(client, container, CARLA)
    dora = register_customer(client, container, DORA)
    container.staff.add("sam", "Sam Example", ["support"], STAFF_PASSWORD)
    sam = {"Authorization": f"Bearer {container.staff.issue_token('sam', 'test').secret}"}
    r = client.post("/v1/cases", json={"contract_id": contract, "subject": "Sync"}, headers=sam)
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    staff = container.staff.actor_of(container.staff.staff_id_of("sam") or "")
    assert staff is not None
    me = {"Authorization": f"Bearer {_customer_token(client, CARLA)}"}
    services = client.get(f"/v1/contracts/{contract}", headers=me).json()["services"]
    mailbox = str(services[0]["id"])
    with pytest.raises(Refused):
        container.gate.decide(
            staff, Action.READ, Resource(ResourceKind.MAILBOX_CONTENT, mailbox, owner=carla),
            AccessContext(case_id=case),
        )  # fmt: skip
    return World(carla, dora, contract, mailbox, case, sam)


def _register_with_mailbox(client: TestClient, container: Container, email: str) -> tuple[str, str]:
    """`register_customer` with a contract holding one mailbox: (customer id, contract id)."""
    body = {"last_name": "Beispiel", "first_name": "Carla", "email": email,
            "services": [{"kind": "mailbox", "name": "carla@example.org"}]}  # fmt: skip
    registered = signed_up(client, container, body)
    return str(registered["id"]), str(registered["contract_id"])


def _customer_token(client: TestClient, email: str) -> str:
    r = client.post("/v1/customers/login", json={"email": email, "password": CUSTOMER_PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def _rows(html: str) -> dict[int, str]:
    return {int(i): d for i, d in _ROW.findall(html)}


def _section(html: str, case: str) -> str:
    start = html.index(f'data-case="{case}"')
    end = html.find("<section", start)
    return html[start : end if end > 0 else len(html)]


def test_allowed_and_refused_entries_appear_under_their_case_with_staff_names(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    portal_sign_in(client, CARLA)
    page = client.get("/portal/history")
    assert page.status_code == 200, page.text
    assert "<h1>My access history</h1>" in page.text
    in_case = _rows(_section(page.text, w.case))
    assert sorted(set(in_case.values())) == ["allow", "deny"]
    assert "Sam Example" in _section(page.text, w.case)
    assert "stf_" not in page.text
    assert 'data-case="none"' in page.text  # her own registration and views: outside any case
    mine = {i for i, e in enumerate(ledgered(container)) if e.owner == w.carla}
    assert set(_rows(page.text)) <= mine
    # the decision of each row is the ledger's
    entries = ledgered(container)
    for index, decision in _rows(page.text).items():
        assert entries[index].decision == decision
    # the refusal shows its rule
    (denied,) = [i for i, d in in_case.items() if d == "deny"]
    assert (entries[denied].rule or "default-deny") in page.text or "default" in page.text
    # the view itself was decided and ledgered
    last = ledgered(container)[-1]
    assert (last.actor_id, last.action, last.resource_id, last.decision) == (
        w.carla,
        "list",
        f"customer/{w.carla}",
        "allow",
    )
    assert last.rule == "customer-sees-own-ledger-entries"


def test_a_resolved_case_has_its_closing_summary(client: TestClient, container: Container) -> None:
    w = world(client, container)
    r = client.post(f"/v1/cases/{w.case}/resolve", headers=w.sam)
    assert r.status_code == 200, r.text
    portal_sign_in(client, CARLA)
    page = client.get("/portal/history")
    assert f"/portal/history/cases/{w.case}" in page.text
    assert "Closing summary of case" in page.text
    summary = client.get(f"/portal/history/cases/{w.case}")
    assert summary.status_code == 200, summary.text
    assert 'id="closing-summary"' in summary.text
    assert "Sam Example" in summary.text
    assert "stf_" not in summary.text
    assert {"allow", "deny"} <= set(_rows(summary.text).values())
    malformed = client.get("/portal/history/cases/not-a-case")
    assert malformed.status_code == 422
    assert ledgered(container)[-1].rule == "gate.invalid-request"


def test_another_customers_entries_never_appear_and_their_receipts_are_refused(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    carlas = [i for i, e in enumerate(ledgered(container)) if e.owner == w.carla]
    portal_sign_in(client, DORA)
    page = client.get("/portal/history")
    assert page.status_code == 200
    assert not set(_rows(page.text)) & set(carlas)
    assert w.case not in page.text
    assert "Sam Example" not in page.text
    refused = client.get(f"/portal/history/{carlas[0]}/receipt")
    assert refused.status_code == 403
    assert "default-deny" in refused.text or "customer" in refused.text
    last = ledgered(container)[-1]
    assert (last.actor_id, last.owner, last.decision) == (w.dora, w.carla, "deny")
    assert client.get(f"/portal/history/cases/{w.case}").status_code == 403
    # Carla sees the attempt, by "another customer", never by Dora's id
    client.cookies.clear()
    portal_sign_in(client, CARLA)
    page = client.get("/portal/history")
    assert "Another customer" in page.text
    assert w.dora not in page.text
    # refused by no rule (the ledger's rule is empty): the row names the default, as the 403
    # page does, never a blank "Rule" (trial finding)
    assert last.rule is None
    probe = ledgered(container).index(last)
    row = page.text[page.text.index(f'id="entry-{probe}"') :]
    row = row[: row.index("</tr>")]
    assert "<code data-rule>default-deny</code>" in row


def test_the_receipt_is_the_owners_only_and_verifies_offline(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    anonymous = client.get("/portal/history/0/receipt", follow_redirects=False)
    assert anonymous.status_code == 303
    portal_sign_in(client, CARLA)
    index = max(_rows(client.get("/portal/history").text))
    r = client.get(f"/portal/history/{index}/receipt")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == f'attachment; filename="receipt-{index}.json"'
    receipt = r.json()
    report = verify_receipt(receipt, container.checkpoints.key_list)
    assert [i for i, _ in report.entries] == [index]
    assert report.customer == w.carla
    for bad in ("-1", "x", str(2**63)):
        assert client.get(f"/portal/history/{bad}/receipt").status_code == 422
    beyond = container.ledger_store.stored_size() + 10
    assert client.get(f"/portal/history/{beyond}/receipt").status_code == 404


def test_a_staff_cookie_is_no_portal_session(client: TestClient, container: Container) -> None:
    world(client, container)
    assert client.get("/portal/history", follow_redirects=False).status_code == 303
    console_sign_in(client, "sam")
    client.cookies.set(
        "entrusted_portal", str(client.cookies.get("entrusted_console")), path="/portal"
    )
    for url in ("/portal/history", "/portal/history/0/receipt"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303, url
        assert "/portal/signin" in r.headers["location"]


def test_pages_of_a_hundred_newest_first(client: TestClient, container: Container) -> None:
    carla = register_customer(client, container, CARLA)
    container.staff.add("sam", "Sam Example", ["support"], STAFF_PASSWORD)
    sam = container.staff.actor_of(container.staff.staff_id_of("sam") or "")
    assert sam is not None
    resources = [Resource(ResourceKind.PERSONAL_DETAILS, carla, owner=carla)] * 150
    with pytest.raises(Refused):  # no case names her: 150 refusals, one ledger append
        container.gate.decide_many(sam, Action.READ, resources)
    portal_sign_in(client, CARLA)
    first = client.get("/portal/history")
    rows = list(_rows(first.text))
    assert len(rows) == PAGE_SIZE
    assert rows == sorted(rows, reverse=True)
    assert "Sam Example" in first.text
    assert "stf_" not in first.text
    older = re.search(r'href="/portal/history\?before=(\d+)"', first.text)
    assert older
    assert int(older.group(1)) == rows[-1]
    second = client.get(f"/portal/history?before={older.group(1)}")
    more = list(_rows(second.text))
    assert more
    assert max(more) < min(rows)
    assert not set(more) & set(rows)
    assert client.get("/portal/history?before=0").status_code == 422


def test_the_verify_page_is_public_and_proofs_verify(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, CARLA)
    page = client.get("/portal/verify")
    assert page.status_code == 200
    for command in ("entrusted ledger verify-receipt", "entrusted ledger monitor",
                    "entrusted witness serve", "/v1/ledger/checkpoint"):  # fmt: skip
        assert command in page.text
    assert '<script src="/static/verify-receipt.js" defer></script>' in page.text
    assert 'role="status"' in page.text
    assert client.get("/static/verify-receipt.js").status_code == 200
    container.checkpoints.sign()
    first = container.checkpoints.published()
    assert first is not None
    register_customer(client, container, DORA)
    container.checkpoints.sign()
    now = container.checkpoints.published()
    assert now is not None
    assert now.size > first.size
    r = client.get("/portal/verify/consistency", params={"old": first.size, "new": now.size})
    assert r.status_code == 200, r.text
    proof = [b64decode_strict(h) for h in json.loads(r.text)["proof"]]
    assert verify_consistency(first.size, now.size, first.root, now.root, proof)
    for old, new in ((0, 1), (now.size, first.size), (1, now.size + 1)):
        bad = client.get("/portal/verify/consistency", params={"old": old, "new": new})
        assert bad.status_code == 422, (old, new)


def _held_back_entry(container: Container, customer: str) -> int:
    """An entry filed under `customer` for a disclosure whose court order defers the notice
    (P5): legal registers the order, proposes, a second lawyer approves, legal exports."""
    legal, legal2 = (staff(container, name, "legal") for name in ("lea", "leo"))
    today = container.clock().date()
    order = container.desk.orders.register_order(
        legal,
        OrderForm("CH-BE", "BJS 26 18", today - timedelta(days=1), today + timedelta(days=60),
                  [customer], ["personal_details"], today + timedelta(days=20)),
        b"%PDF-1.7 Bezirksgericht (fake, for tests)",
    )  # fmt: skip
    proposed = container.desk.disclosures.propose(legal, order.id)
    container.desk.disclosures.approve(legal2, proposed.id)
    before = container.ledger_store.stored_size()
    container.desk.disclosures.export(legal, proposed.id)
    entries = ledgered(container)
    return next(
        i
        for i in range(before, len(entries))
        if entries[i].owner == customer and entries[i].refs.get("disclosure") == proposed.id
    )


def _refusal(response: Response) -> tuple[int, list[str]]:
    """What a refusal page tells the visitor: its status and the rule and reason shown."""
    return response.status_code, re.findall(r"<code>([^<]*)</code>:? ?([^.]*)", response.text)


def test_a_held_back_entry_is_refused_like_any_other_customers_entry(
    client: TestClient, container: Container
) -> None:
    """P5: a stranger walking indices gets the same ledgered 403 for an entry a court order
    holds back as for any other entry not theirs, and so does the owner herself."""
    w = world(client, container)
    held = _held_back_entry(container, w.carla)
    normal = next(i for i, e in enumerate(ledgered(container)) if e.owner == w.carla)
    portal_sign_in(client, DORA)
    answers = []
    for index in (held, normal):
        r = client.get(f"/portal/history/{index}/receipt")
        last = ledgered(container)[-1]
        assert (last.actor_id, last.decision, last.resource_id) == (
            w.dora, "deny", f"entry/{index}"
        )  # fmt: skip
        answers.append(_refusal(r))
    assert answers[0] == answers[1]
    assert answers[0][0] == 403
    assert answers[0][1]  # the rule and reason are shown
    client.cookies.clear()
    portal_sign_in(client, CARLA)
    mine = client.get(f"/portal/history/{held}/receipt")
    assert _refusal(mine) == answers[0]
    assert held not in _rows(client.get("/portal/history").text)


def test_an_old_entrys_receipts_sign_no_new_checkpoint(
    client: TestClient, container: Container
) -> None:
    world(client, container)
    portal_sign_in(client, CARLA)
    index = max(_rows(client.get("/portal/history").text))
    first = client.get(f"/portal/history/{index}/receipt")  # newer than any checkpoint: signs
    assert first.status_code == 200, first.text
    signed = container.checkpoints.published()
    assert signed is not None
    assert index < signed.size
    for _ in range(2):
        again = client.get(f"/portal/history/{index}/receipt")
        assert again.status_code == 200, again.text
        verify_receipt(again.json(), container.checkpoints.key_list)
    latest = container.checkpoints.published()
    assert latest is not None
    assert (latest.size, latest.root) == (signed.size, signed.root)


def test_a_receipt_that_needs_a_signature_the_signer_cannot_give_is_503(
    client: TestClient, container: Container
) -> None:
    world(client, container)
    portal_sign_in(client, CARLA)
    old = max(_rows(client.get("/portal/history").text))
    assert client.get(f"/portal/history/{old}/receipt").status_code == 200
    container.checkpoints.halt("a witness objected (test)")
    # an entry under the latest checkpoint needs no signature: still handed out
    assert client.get(f"/portal/history/{old}/receipt").status_code == 200
    new = max(_rows(client.get("/portal/history").text))
    assert new > old
    r = client.get(f"/portal/history/{new}/receipt")
    assert r.status_code == 503, r.text
    assert "try again" in r.text


def test_an_unknown_case_is_refused_like_another_customers_case(
    client: TestClient, container: Container
) -> None:
    w = world(client, container)
    unknown = IdKind.CASE.example
    assert is_id(IdKind.CASE, unknown)
    assert unknown != w.case
    portal_sign_in(client, DORA)
    answers = []
    for case in (w.case, unknown):
        before = container.ledger_store.stored_size()
        r = client.get(f"/portal/history/cases/{case}")
        (entry,) = ledgered(container)[before:]
        assert (entry.actor_id, entry.decision, entry.resource_id) == (w.dora, "deny", case)
        answers.append((r.status_code, entry.rule, entry.reason))
        assert entry.reason in r.text
    assert answers[0] == answers[1]
    assert answers[0][0] == 403


def test_the_page_reads_as_plain_lines_and_folds_its_own_views(
    client: TestClient, container: Container
) -> None:
    """What the customer reads first is who did what to which of her things, by name; the
    rule id (what ties the entry to the published policy) and the resource id stay on the
    row as secondary text; her own consecutive views of this page are one line with their
    count, each still a row with its receipt inside the fold, and each still ledgered."""
    w = world(client, container)
    portal_sign_in(client, CARLA)
    for _ in range(3):
        assert client.get("/portal/history").status_code == 200
    page = client.get("/portal/history")
    assert page.status_code == 200, page.text
    # the run of her own views at the top of her history, as the ledger has it
    views = []
    for i, e in reversed(list(enumerate(ledgered(container)))):
        if e.owner != w.carla:
            continue
        if (e.actor_id, e.resource_kind, e.rule, e.decision) != (
            w.carla, "ledger", "customer-sees-own-ledger-entries", "allow",
        ):  # fmt: skip
            break
        views.append(i)
    assert len(views) >= 4  # at least the four views above, all ledgered
    assert f'data-own-views="{len(views)}"' in page.text
    assert page.text.count("data-own-views=") == 1
    assert f"You viewed your access history {len(views)} times between" in page.text
    folded = page.text[page.text.index("data-own-views=") :]
    folded = folded[: folded.index("</details>")]
    assert sorted(_rows(folded)) == sorted(views)  # every one still a row, with its receipt
    for index in views:
        assert f'data-check-receipt="/portal/history/{index}/receipt"' in folded
    # the plain line names the staff member and the thing touched; ids are secondary
    case = _section(page.text, w.case)
    assert "Sam Example was refused access to the content of your mailbox" in case
    entries = ledgered(container)
    (denied,) = [i for i, d in _rows(case).items() if d == "deny"]
    assert entries[denied].rule
    row = case[case.index(f'id="entry-{denied}"') :]
    row = row[: row.index("</tr>")]
    assert f"<code data-rule>{entries[denied].rule}</code>" in row
    assert '<small class="technical">' in row
    assert row.index('class="plain"') < row.index("data-rule")
    assert w.mailbox in row  # the resource id, secondary
    assert "stf_" not in page.text
    # in French, the same line in the past tense
    fr = client.get("/portal/history?lang=fr")
    assert "Sam Example : accès refusé (le contenu de votre boîte aux lettres)" in fr.text
    assert "Vous avez consulté votre historique des accès" in fr.text
