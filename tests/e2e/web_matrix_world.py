"""The world the page matrix (tests/e2e/test_web_matrix.py) runs on: customers A and B, each
with a contract hosting a mailbox and an FTP space, a support case, an access request
answered by a grant and one still pending, a backup; one staff member per role; everyone
signed in through the pages, their session cookies kept to be replayed per request.

Why services rather than pages for the world itself: the matrix tests the pages; the world
only has to exist. Sign-in alone goes through the pages, because the cookies are the actors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from entrusted.bootstrap import WORKER, Container
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.services.mailings import MailingDraft
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.e2e.web_support import (
    CUSTOMER_PASSWORD,
    STAFF_PASSWORD,
    console_sign_in,
    form_token,
    mails_to,
    portal_sign_in,
    token_in,
)
from tests.unit.registry_world import SIGNUP

WHY = "The customer reports that the mail client keeps failing to sync."
PORTAL_COOKIE = "entrusted_portal"
CONSOLE_COOKIE = "entrusted_console"
VISITOR_ID = "web-visitor"  # services/forms.py ANONYMOUS: who posts a form with no session


@dataclass
class Who:
    """One actor of the matrix: the secret their browser holds (None: anonymous), what kind
    of actor it stands for, and the CSRF token a page of each area gave that browser."""

    label: str
    secret: str | None
    kind: ActorKind | None
    id: str = VISITOR_ID
    tokens: dict[str, str] = field(default_factory=dict)

    def area_id(self, area: str) -> str:
        """Who the area's pages see: the actor on their own area, else an anonymous visitor
        (a staff token in the portal's cookie, or a customer's in the console's, is nobody)."""
        mine = {"portal": ActorKind.CUSTOMER, "console": ActorKind.STAFF}[area]
        return self.id if self.kind is mine else VISITOR_ID

    def wear(self, client: TestClient) -> None:
        """Replace the client's cookies with this actor's: their secret in BOTH areas' session
        cookies, so the cross-area case is a real token in the wrong cookie, not no cookie."""
        client.cookies.clear()
        if self.secret is not None:
            client.cookies.set(PORTAL_COOKIE, self.secret, path="/portal")
            client.cookies.set(CONSOLE_COOKIE, self.secret, path="/console")


@dataclass
class Held:
    """What customer A (or B) holds, by id, and what of theirs no other customer may see."""

    id: str
    email: str
    first_name: str
    last_name: str
    mailbox: str
    contract_id: str
    mailbox_id: str
    ftp_id: str
    case_id: str = ""
    request_id: str = ""  # pending
    grant_id: str = ""
    backup_ids: list[str] = field(default_factory=list)

    def secrets(self) -> set[str]:
        found = {self.id, self.email, self.first_name, self.last_name, self.mailbox,
                 self.contract_id, self.mailbox_id, self.ftp_id, self.case_id, self.request_id,
                 self.grant_id, *self.backup_ids}  # fmt: skip
        return {s for s in found if s}


@dataclass
class World:
    whos: list[Who]
    a: Held
    b: Held
    params: dict[str, str]


def _customer(c: Container, n: str, first: str, last: str) -> Held:
    email = f"{first.lower()}.{last.lower()}@example.com"
    mailbox = f"{first.lower()}{n}@example.org"
    services = (ServiceRequest("mailbox", mailbox), ServiceRequest("ftp_space", f"{first}-ftp"))
    done = c.registry.register(SIGNUP, Registration(last, first, email, services=services))
    assert done.contract_id is not None
    with c.uow() as uow:
        contract = uow.contracts.get(done.contract_id)  # type: ignore[attr-defined]
    ids = {s.kind.value: s.id for s in contract.services}
    link = [m for m in mails_to(c, email) if "#token=entl_" in m][-1]
    c.customer_auth.set_password(token_in(link), CUSTOMER_PASSWORD)
    return Held(done.customer_id, email, first, last, mailbox, done.contract_id,
                ids["mailbox"], ids["ftp_space"])  # fmt: skip


def _consent(c: Container, support: Actor, held: Held) -> None:
    """A case on the holder's contract, a request they approved (a grant) and one pending."""
    holder = Actor(ActorKind.CUSTOMER, held.id)
    held.case_id = c.cases.open(support, held.contract_id, "Sync").id
    asked = c.consent.request(support, held.case_id, held.mailbox_id, WHY, sessions=2)
    link = [m for m in mails_to(c, held.email) if f"/access-requests/{asked.id}" in m][-1]
    held.grant_id = c.consent.approve(holder, asked.id, token_in(link)).id
    held.request_id = c.consent.request(support, held.case_id, held.ftp_id, WHY).id


def build_world(client: TestClient, c: Container) -> World:
    a = _customer(c, "1", "Quirina", "Zabelstein")
    b = _customer(c, "2", "Bruno", "Example")
    staff: dict[Role, Actor] = {}
    for role in Role:
        member = c.staff.add(f"matrix-{role.value}", f"{role.value.title()} Agent",
                             [role.value], STAFF_PASSWORD)  # fmt: skip
        staff[role] = Actor(ActorKind.STAFF, member.id, frozenset({role}))
    for held in (a, b):
        _consent(c, staff[Role.SUPPORT], held)
    c.backups.runner.run(WORKER)
    for held in (a, b):
        found = c.backups.access.archives(staff[Role.SYSADMIN], held.id)
        held.backup_ids = [archive.id for archive in found]
    ident = c.identification.start(staff[Role.SUPPORT], a.id, "email_code", case_id=a.case_id)
    draft = MailingDraft("incident", "Maintenance", "Mail is down at night.", (a.mailbox_id,))
    mailing = c.mailings.compose.compose(staff[Role.COMMUNICATIONS], draft)
    whos = [Who("anonymous", None, None)]
    for label, held in (("customer A", a), ("customer B", b)):
        client.cookies.clear()
        portal_sign_in(client, held.email)
        whos.append(_signed_in(client, label, PORTAL_COOKIE, ActorKind.CUSTOMER, held.id))
    for role, actor in staff.items():
        client.cookies.clear()
        console_sign_in(client, f"matrix-{role.value}")
        whos.append(_signed_in(client, role.value, CONSOLE_COOKIE, ActorKind.STAFF, actor.id))
    client.cookies.clear()
    owned = [n for n, e in enumerate(_entries(c)) if e == a.id]
    params = {
        "contract_id": a.contract_id, "case_id": a.case_id, "request_id": a.request_id,
        "grant_id": a.grant_id, "customer_id": a.id, "identification_id": ident.id,
        "index": str(owned[-1]), "mailing_id": mailing.id, "username": "matrix-other",
        "disclosure_id": "dsc_" + "0" * 16,  # shaped, none exists: the desk needs an order
    }  # fmt: skip
    return World(whos, a, b, params)


def _signed_in(client: TestClient, label: str, cookie: str, kind: ActorKind, id_: str) -> Who:
    secret = client.cookies.get(cookie)
    assert secret, label
    who = Who(label, secret, kind, id_)
    who.wear(client)
    # the genuine token of this browser's forms in its own area (another actor replays it)
    area = "portal" if kind is ActorKind.CUSTOMER else "console"
    who.tokens = {area: form_token(client.get(f"/{area}/").text)}
    return who


def _entries(c: Container) -> list[str | None]:
    """The owner of every ledger entry, by index."""
    store = c.ledger_store
    return [AuditEntry.from_bytes(b).owner for b in store.entries(0, store.stored_size())]
