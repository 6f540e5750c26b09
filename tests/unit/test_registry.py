"""The registry services on in-memory twins: registration and its bad inputs (nothing written),
who sees what through the gate, the refused bulk export (P4), the customer's own export."""

from __future__ import annotations

import pytest

from entrusted.domain.registry import ContractStatus, ServiceKind
from entrusted.errors import Conflict, InvalidInput, NotFound, Refused
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.refusals import default_denied, refused_by
from tests.unit.registry_world import (
    LEGAL,
    OFFICE,
    OPERATOR,
    SIGNUP,
    SUPPORT,
    SYSADMIN,
    World,
    customer,
)

pytestmark = pytest.mark.promise("P1", "P2", "P4")

MAILBOX = ServiceRequest("mailbox", "Info@Example.com")
TICKET = AccessContext(ticket="HD-4711")  # support's look-ups name a ticket or a case


@pytest.fixture
def world() -> World:
    return World()


def test_registration_stores_normalised_details_and_mails_a_password_link(world: World) -> None:
    form = world.people.form((MAILBOX, ServiceRequest("website", "WWW.Example.com.")))
    form = Registration(
        form.last_name,
        form.first_name,
        " " + form.email.upper(),
        form.phone,
        form.mobile,
        form.services,
    )
    done = world.registry.register(SIGNUP, form)
    assert done.password_link_queued
    record = world.registry.details(customer(done.customer_id), done.customer_id)
    assert record.details.email == form.email.strip().lower()
    assert record.details.phone is not None
    assert record.details.phone.startswith("+41440")
    assert record.details.mobile is not None
    assert record.details.mobile.startswith("+41790")
    assert world.mailer.sent == []  # queued with the customer, sent by the worker
    assert world.deliver().sent == 1
    (mail,) = world.mailer.sent
    assert mail.to == record.details.email
    assert "https://portal.example.com/password#token=entl_" in mail.body
    view = world.contracts.get(customer(done.customer_id), str(done.contract_id))
    assert [(s.kind, s.name) for s in view.services] == [
        (ServiceKind.MAILBOX, "info@example.com"),
        (ServiceKind.WEBSITE, "www.example.com"),
    ]
    assert world.decisions()[:2] == [
        ("signup", "create", "allow", "signup-site-registers-customers"),
        ("signup", "create", "allow", "signup-site-registers-customers"),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "anna@"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": "+41 44 000 00 00 ext. 12"}, "phone"),
        ({"mobile": "044 000 00 00"}, "mobile"),  # a fixed line cannot receive codes
        ({"last_name": "  "}, "last_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": "Anna\x00"}, "first_name"),
        ({"services": (ServiceRequest("shop", "x"),)}, "services[0].kind"),
        ({"services": (ServiceRequest("mailbox", "no-at-sign"),)}, "services[0].name"),
        ({"services": (ServiceRequest("website", "not a host"),)}, "services[0].name"),
        ({"services": (ServiceRequest("ftp_space", "Bad Name!"),)}, "services[0].name"),
        ({"services": (MAILBOX, MAILBOX)}, "services[1].name"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    world: World, change: dict[str, object], field: str
) -> None:
    form = world.people.form()
    values = {name: getattr(form, name) for name in Registration.__slots__} | change
    with pytest.raises(InvalidInput) as info:
        world.registry.register(SIGNUP, Registration(**values))  # type: ignore[arg-type]
    assert info.value.field == field
    assert world.store.commits == 0
    assert world.ledger.entries == []
    assert world.mailer.sent == []


def test_duplicate_email_is_a_conflict_and_writes_nothing(world: World) -> None:
    form = world.people.form()
    world.registry.register(SIGNUP, form)
    commits, entries, sent = world.store.commits, len(world.ledger.entries), len(world.mailer.sent)
    again = world.people.form()
    twin = Registration(again.last_name, again.first_name, form.email.upper())
    with pytest.raises(Conflict, match="already registered"):
        world.registry.register(SIGNUP, twin)
    assert (world.store.commits, len(world.ledger.entries), len(world.mailer.sent)) == (
        commits,
        entries,
        sent,
    )


def test_only_the_signup_site_or_an_operator_registers(world: World) -> None:
    from entrusted.domain.policy import Actor, ActorKind

    assert world.registry.register(OPERATOR, world.people.form()).customer_id
    for who in (Actor(ActorKind.SERVICE, "mail_hook"), customer("cus_x"), SUPPORT, SYSADMIN):
        with refused_by("registry.registrar-only", ledger=world.ledger):
            world.registry.register(who, world.people.form())
    refused = [d for d in world.decisions() if d[2] == "deny"]
    assert [d[0] for d in refused] == ["mail_hook", "cus_x", "stf_support", "stf_sysadmin"]
    assert len(world.store.state.customers) == 1


def test_customer_reads_and_corrects_only_their_own_details(world: World) -> None:
    alice, bob = world.register(), world.register()
    with default_denied(
        "customer to read personal_details", without="owns_resource", ledger=world.ledger
    ):
        world.registry.details(customer(bob), alice)
    assert world.decisions()[-1][2:] == ("deny", None)
    old_email = world.registry.details(customer(alice), alice).details.email
    record = world.registry.correct(
        customer(alice), alice, {"email": "Alice.New@Example.com", "phone": None}
    )
    # The phone goes at once; the address only once the link mailed to it is opened
    assert (record.details.email, record.details.phone) == (old_email, None)
    assert world.registry.details(customer(alice), alice).details == record.details
    world.deliver()
    link = next(m for m in world.mailer.sent if m.to == "alice.new@example.com")
    world.registry.confirm_email(link.body.split("#token=")[1].split()[0])
    (found,) = world.registry.find(SUPPORT, email="alice.new@example.com", context=TICKET)
    assert found.id == alice
    with default_denied(
        "customer to update personal_details", without="owns_resource", ledger=world.ledger
    ):
        world.registry.correct(customer(bob), alice, {"first_name": "Mallory"})


def test_correction_bad_input_and_duplicates_change_nothing(world: World) -> None:
    alice, bob = world.register(), world.register()
    before = world.registry.details(customer(alice), alice)
    bob_email = world.registry.details(customer(bob), bob).details.email
    with pytest.raises(InvalidInput) as info:
        world.registry.correct(customer(alice), alice, {"mobile": "044 000 00 00"})
    assert info.value.field == "mobile"
    with pytest.raises(InvalidInput) as info:
        world.registry.correct(customer(alice), alice, {"email": None})
    assert info.value.field == "email"
    with pytest.raises(InvalidInput) as info:
        world.registry.correct(customer(alice), alice, {"password": "x"})
    assert info.value.field == "password"
    world.registry.correct(customer(alice), alice, {"email": bob_email})
    world.deliver()
    link = next(m for m in world.mailer.sent if m.to == bob_email and "/email#" in m.body)
    with pytest.raises(Conflict) as conflict:
        world.registry.confirm_email(link.body.split("#token=")[1].split()[0])
    assert conflict.value.message == "a customer with this e-mail address is already registered"
    assert world.decisions()[-1][2:] == ("deny", "registry.email-taken")
    assert world.registry.details(customer(alice), alice) == before


def test_support_sees_name_and_contracts_only_sysadmin_nothing(world: World) -> None:
    alice = world.register(services=(MAILBOX,))
    world.identify(SUPPORT, alice)
    summary = world.registry.summary(SUPPORT, alice, TICKET).summary
    assert summary is not None
    record = world.registry.details(customer(alice), alice)
    assert (summary.last_name, summary.first_name) == (
        record.details.last_name,
        record.details.first_name,
    )
    assert not hasattr(summary, "details")
    assert not hasattr(summary, "email")
    assert [c.status for c in summary.contracts] == [ContractStatus.ACTIVE]
    for who, role in ((SYSADMIN, "sysadmin"), (LEGAL, "legal"), (OFFICE, "other")):
        with default_denied(f"{role} to identify personal_details", ledger=world.ledger):
            world.registry.summary(who, alice, TICKET)
        with default_denied(f"{role} to read personal_details", ledger=world.ledger):
            world.registry.details(who, alice)
    with default_denied("support to read personal_details", ledger=world.ledger):
        world.registry.details(SUPPORT, alice)  # identification, not the full record


def test_find_by_email_or_phone_through_the_blind_index(world: World) -> None:
    form = world.people.form()
    alice = world.registry.register(SIGNUP, form).customer_id
    find = world.registry.find
    assert [s.id for s in find(SUPPORT, email=form.email.upper(), context=TICKET)] == [alice]
    assert [s.id for s in find(SUPPORT, phone=str(form.mobile), context=TICKET)] == [alice]
    assert [s.id for s in find(SUPPORT, phone=str(form.phone), context=TICKET)] == [alice]
    assert find(SUPPORT, email="nobody@example.com", context=TICKET) == []
    with pytest.raises(InvalidInput):
        find(SUPPORT, context=TICKET)
    # A sysadmin learns nothing, not even whether an address belongs to a customer.
    for address in (form.email, "nobody@example.com"):
        with default_denied("sysadmin to identify personal_details", ledger=world.ledger):
            world.registry.find(SYSADMIN, email=address, context=TICKET)


@pytest.mark.parametrize("who", [SUPPORT, SYSADMIN, LEGAL, OFFICE, SIGNUP, customer("cus_1")])
def test_bulk_export_is_refused_for_everyone_and_ledgered(world: World, who: object) -> None:
    world.register()
    with pytest.raises(Refused) as info:
        world.registry.export_all(who)  # type: ignore[arg-type]
    assert info.value.decision.rule_id == "nobody-exports-the-customer-file"
    last = world.ledger.entries[-1]
    assert (last.action, last.resource_kind, last.decision) == ("export", "customer_file", "deny")


def test_customer_exports_their_own_record_contracts_and_ledger_entries(world: World) -> None:
    alice, bob = world.register(services=(MAILBOX,)), world.register()
    world.registry.summary(SUPPORT, alice, TICKET)
    doc = world.registry.export_own(customer(alice), alice)
    assert doc["format"] == "entrusted-data-export/v1"
    assert doc["customer"]["id"] == alice
    assert doc["customer"]["email"].endswith("@example.com")
    assert [s["name"] for s in doc["contracts"][0]["services"]] == ["info@example.com"]
    actions = [(e["entry"]["actor"]["id"], e["entry"]["action"]) for e in doc["ledger_entries"]]
    assert ("signup", "create") in actions
    assert ("stf_support", "identify") in actions
    assert all(e["entry"]["resource"]["owner"] == alice for e in doc["ledger_entries"])
    with default_denied(
        "customer to export personal_details", without="owns_resource", ledger=world.ledger
    ):
        world.registry.export_own(customer(bob), alice)
    with default_denied("support to export personal_details", ledger=world.ledger):
        world.registry.export_own(SUPPORT, alice)


def test_unknown_customer_is_not_found_after_the_gate(world: World) -> None:
    with pytest.raises(NotFound):
        world.registry.summary(SUPPORT, "cus_missing", TICKET)
    with pytest.raises(NotFound):
        world.registry.details(customer("cus_missing"), "cus_missing")


def test_registry_secrets_never_show_in_settings_output() -> None:
    import base64

    from entrusted.config import Settings

    key = base64.b64encode(bytes(range(32))).decode()
    s = Settings(
        master_key=key, index_key=key, smtp_password="hunter2-long", sms_gateway_token="t0k"
    )
    shown = s.describe()
    for name in ("master_key", "index_key", "smtp_password", "sms_gateway_token"):
        assert shown[name] == "***"
    assert key not in repr(s)
    assert "hunter2-long" not in repr(s)
    assert Settings().describe()["master_key"] == "None"
