"""The demo's disclosure step (P4, P5): a police request recorded and refused, a foreign
order refused, a Zurich court order registered with its document's SHA-256, a disclosure
beyond the order refused, the proposer's own approval refused, a second legal officer's
approval, the export with exactly the covered categories, and the customer's notice deferred
as the order demands."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from faker import Faker

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_registry import SIGNUP, _person
from entrusted.errors import Refused
from entrusted.services.court_orders import OrderForm, RequestForm


def _legal(c: Container, suffix: str) -> Actor:
    member = next(m for m in c.staff.list_members() if m.username.endswith(f".{suffix}"))
    return Actor(ActorKind.STAFF, member.id, member.roles)


def _refused(what: str, step: Callable[[], object]) -> None:
    try:
        step()
    except Refused as refused:
        why = refused.decision.rule_id
        console.print(f"  {what}: [red]refused[/red] ({why}): {refused.decision.reason}",
                      highlight=False)


def disclosures_step(c: Container, fake: Faker) -> None:
    legal, legal2 = _legal(c, "legal"), _legal(c, "legal2")
    covered = c.registry.register(SIGNUP, _person(fake, 61)).customer_id
    other = c.registry.register(SIGNUP, _person(fake, 62)).customer_id
    desk = c.desk
    asked = desk.orders.record_request(
        legal, RequestForm("Det. " + fake.last_name(), "Kantonspolizei (demo)",
                           "the customer's contact details", "StPO Art. 265", [covered]),
    )
    console.print(f"  third-party request {asked.id} recorded; answer: {asked.answer}",
                  highlight=False)
    today = c.clock().date()
    document = b"%PDF-1.7 demo order of the Obergericht Zuerich " + os.urandom(16)
    form = OrderForm("DE-BGH", "I ZR 1/26", today - timedelta(days=1),
                     today + timedelta(days=30), [covered], ["personal_details", "contracts"],
                     notice_after=today + timedelta(days=30))
    _refused("an order of a German court", lambda: desk.orders.register_order(legal, form,
                                                                              document))
    zurich = replace(form, court="CH-ZH", case_number="LB260001")
    order = desk.orders.register_order(legal, zurich, document)
    console.print(f"  court order {order.id} of {order.court} ({order.case_number}) registered;"
                  f" document sha256 {order.document_sha256[:16]}...", highlight=False)
    _refused("a disclosure naming a customer the order does not",
             lambda: desk.disclosures.propose(legal, order.id, [covered, other]))
    proposed = desk.disclosures.propose(legal, order.id)
    _refused("the proposer approving their own disclosure",
             lambda: desk.disclosures.approve(legal, proposed.id))
    desk.disclosures.approve(legal2, proposed.id)
    export = desk.disclosures.export(legal, proposed.id)
    sections = sorted(k for k in export["customers"][0] if k != "id")
    done = desk.disclosures.get(legal, proposed.id)
    console.print(f"  approved by a second legal officer; exported {', '.join(sections)} of "
                  f"{len(export['customers'])} customer; notice {done.notice.value} until "
                  f"{done.notice_after} (lifted then by the worker's disclosures.lift)",
                  highlight=False)
    own = c.registry.export_own(Actor(ActorKind.CUSTOMER, covered), covered)
    shown = [e for e in own["ledger_entries"] if e["entry"]["refs"].get("disclosure")]
    console.print(f"  the customer's own export holds {len(shown)} entries of the disclosure "
                  "until the notice is lifted (they stay in the ledger)", highlight=False)
