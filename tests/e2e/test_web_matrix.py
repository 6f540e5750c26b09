"""The pages' matrix (issue 18): every route of the portal and the console x every kind of
actor (anonymous, customer A, customer B, one staff member per role), on the world of
tests/e2e/web_matrix_world.py. As the API's matrix (test_authorization_matrix.py) does for the
OpenAPI operations, nothing here lists the pages: they come from the apps' own routes, so a
page added later is in the matrix the day it is added, and a route the matrix cannot fill (a
path, query or form parameter without a sample) fails the test rather than being skipped.

Every GET, as each actor, with A's ids and with the malformed id "x":

* no answer is a server error;
* a visitor the area does not know (anonymous, or a session of the other area's kind in this
  area's cookie) is sent to sign in (303) on every page but the public ones;
* on the portal, nobody but A ever receives anything of A's (name, e-mail, mailbox, ids) that
  they did not send themselves, and customer B asking for a page of A's gets 403 or 404;
* a malformed id is 404 or 422 (or the sign-in redirect), never a page;
* a 403 names the rule of the last ledger entry the request wrote for that actor.

Every POST, as each actor, with no fields at all, without its CSRF field, with a wrong one and
with another browser's genuine token: 403 `web.form-forged` (the app-wide form guard refuses
before anything, even before the fields are validated or a session is asked for), the
refusal ledgered and nothing else: no table but the ledger's gains or loses a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.entrypoints.server import create_server_app
from entrusted.entrypoints.web.app import create_console_app, create_portal_app
from tests.e2e.web_matrix_world import VISITOR_ID, Who, World, build_world

pytestmark = pytest.mark.promise("P2", "P8", "P12", "P14")

# The pages a visitor needs no session for (sign-in, links a mail carries, how to verify).
PUBLIC = {
    "/portal/signin", "/portal/password-reset", "/portal/password", "/portal/verify",
    "/portal/verify/consistency", "/portal/email", "/portal/not-me",
    "/portal/access-requests/{request_id}",  # a sign-in form on the mailed link's own page
    "/console/signin",
}  # fmt: skip
# Samples for the parameters a request cannot do without (inputs only, no expectation).
QUERY = {"old": "1", "new": "2"}
FORM = {
    "email": "nobody@example.com", "password": "a long test passphrase", "username": "nobody",
    "token": "entl_forged", "service_id": "svc_" + "0" * 16, "issued_on": "2026-11-01",
    "valid_until": "2026-12-31", "effective": "2026-12-01",
}  # fmt: skip
FILES = {"document": ("order.pdf", b"%PDF-1.7 fake court order", "application/pdf")}
FORGED = "web.form-forged"
_RULE = re.compile(r"Decided by rule <code>([^<]+)</code>")


@dataclass(frozen=True, slots=True)
class Page:
    area: str
    method: str
    path: str  # as declared, with {params}
    route: APIRoute


def pages(c: Container) -> list[Page]:
    """Every route of both page apps, from the apps themselves."""
    found = []
    for area, make in (("portal", create_portal_app), ("console", create_console_app)):
        for ctx in iter_route_contexts(make(c).routes):
            route = ctx.original_route
            assert isinstance(route, APIRoute), f"{area}: {route!r} is not a page route"
            found += [
                Page(area, m, f"/{area}{ctx.path}", route) for m in sorted(route.methods or ())
            ]
    return found


def fill(page: Page, params: dict[str, str]) -> tuple[str, list[str]]:
    """The URL with every path parameter filled from `params`, and the names it lacked."""
    missing = [p.name for p in page.route.dependant.path_params if p.name not in params]
    url = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: params.get(m.group(1), "?"), page.path)
    return url, missing


def required(page: Page) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """Samples for the required query and form fields (a forged form must reach check_form,
    not stop at validation), its files, and the names no sample covers."""
    query, form, files, missing = {}, {}, {}, []
    for p in page.route.dependant.query_params:
        if p.field_info.is_required():
            query[p.alias] = QUERY.get(p.alias, "")
            missing += [] if p.alias in QUERY else [p.alias]
    for p in page.route.dependant.body_params:
        if p.field_info.is_required():
            if p.alias in FILES:
                files[p.alias] = FILES[p.alias]
            elif p.alias in FORM:
                form[p.alias] = FORM[p.alias]
            else:
                missing.append(p.alias)
    return query, {"data": form, "files": files or None}, missing


def ledger(c: Container, start: int) -> list[AuditEntry]:
    store = c.ledger_store
    return [AuditEntry.from_bytes(b) for b in store.entries(start, store.stored_size())]


def rows(c: Container) -> dict[str, int]:
    """Rows per table, the ledger's own tables aside (a refusal is written there)."""
    with c.engine.connect() as conn:
        names = [t for t in sa.inspect(conn).get_table_names() if not t.startswith("ledger_")]
        return {t: int(conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one())
                for t in names}  # fmt: skip


@pytest.fixture
def world(container: Container) -> Iterator[tuple[TestClient, World]]:
    with TestClient(create_server_app(container=container)) as client:
        yield client, build_world(client, container)


class Matrix:
    """One request as one actor, and what its answer and its ledger entries must be."""

    def __init__(self, client: TestClient, c: Container, w: World) -> None:
        self.client, self.c, self.w = client, c, w
        self.problems: list[str] = []
        self.cells = 0
        self.seen: dict[tuple[str, bool, str], int] = {}

    def ask(self, who: Who, page: Page, url: str, **kw: Any) -> tuple[Any, list[AuditEntry]]:
        who.wear(self.client)
        before = self.c.ledger_store.stored_size()
        r = self.client.request(page.method, url, follow_redirects=False, **kw)
        self.cells += 1
        return r, ledger(self.c, before)

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def refusal_ledgered(self, where: str, who: Who, area: str, r: Any,
                         entries: list[AuditEntry]) -> None:  # fmt: skip
        shown = _RULE.search(r.text)
        if shown is None:
            return self.fail(where, "a 403 page names no rule")
        mine = [e for e in entries if e.actor_id == who.area_id(area)]
        last = mine[-1] if mine else None
        if (
            last is None
            or last.decision != "deny"
            or (last.rule or "default-deny") != shown.group(1)
        ):
            self.fail(where, f"shows rule {shown.group(1)}, last ledger entry {last}")
        return None

    def get(self, page: Page, url: str, who: Who, *, malformed: bool) -> None:
        r, entries = self.ask(who, page, url, params=required(page)[0])
        where = f"GET {url} as {who.label} -> {r.status_code}"
        self.seen[(page.path, malformed, who.label)] = r.status_code
        if r.status_code >= 500:
            return self.fail(where, "server error")
        stranger = who.area_id(page.area) == VISITOR_ID
        to_sign_in = r.status_code == 303 and r.headers["location"].startswith(
            f"/{page.area}/signin"
        )
        if stranger and page.path not in PUBLIC and not malformed and not to_sign_in:
            self.fail(where, "a visitor the area does not know is not sent to sign in")
        if page.area == "portal" and who.id != self.w.a.id:
            sent = set(re.split(r"[/?&=]", url))
            seen = [s for s in self.w.a.secrets() - sent if s.lower() in r.text.lower()]
            if seen:
                self.fail(where, f"A's data in the answer: {seen}")
        theirs = page.area == "portal" and page.route.dependant.path_params and not malformed
        if who.label == "customer B" and theirs and r.status_code not in (403, 404):
            self.fail(where, "customer B reaches a page of A's")
        if malformed and r.status_code not in (303, 404, 422):
            self.fail(where, "a malformed id is not refused")
        if r.status_code == 403:
            self.refusal_ledgered(where, who, page.area, r, entries)
        return None

    def post(self, page: Page, url: str, who: Who, token: str | None, *, bare: bool) -> None:
        """`bare`: not even the required fields (the guard runs before their validation)."""
        query, body, _ = required(page)
        data = {} if bare else {**body["data"], **({"csrf": token} if token else {})}
        files = None if bare else body["files"]
        r, entries = self.ask(who, page, url, params=query, data=data, files=files)
        sent = "no fields" if bare else f"csrf={token and token[:8]}"
        where = f"POST {url} as {who.label} with {sent} -> {r.status_code}"
        if r.status_code != 403 or FORGED not in r.text:
            title = re.search(r"<title>([^<]*)</title>", r.text)
            return self.fail(where, f"not refused as forged: {title and title.group(1)}")
        if any(e.rule != FORGED for e in entries):
            self.fail(where, f"more than the refusal ledgered: {[e.rule for e in entries]}")
        return self.refusal_ledgered(where, who, page.area, r, entries)


def another_token(w: World, who: Who, area: str) -> str:
    """A genuine form token of this area, from another actor's browser."""
    return next(o.tokens[area] for o in w.whos if o is not who and area in o.tokens)


def test_every_page_and_form_for_every_actor(world: tuple[TestClient, World]) -> None:
    client, w = world
    c: Container = client.app.state.container  # type: ignore[attr-defined]
    m = Matrix(client, c, w)
    found = pages(c)
    uncovered = []
    for page in found:
        url, missing = fill(page, w.params)
        missing += required(page)[2]
        if missing:
            uncovered.append(f"{page.method} {page.path}: no sample for {missing}")
            continue
        if page.method == "GET":
            bad = fill(page, dict.fromkeys(w.params, "x"))[0]
            for who in w.whos:
                m.get(page, url, who, malformed=False)
                if bad != url:
                    m.get(page, bad, who, malformed=True)
        elif page.method == "POST":
            before = rows(c)
            for who in w.whos:
                m.post(page, url, who, None, bare=True)
                for token in (None, "0" * 64, another_token(w, who, page.area)):
                    m.post(page, url, who, token, bare=False)
            if rows(c) != before:
                m.fail(f"POST {page.path}", "a forged form changed the data")
        else:
            uncovered.append(f"{page.method} {page.path}: the matrix knows no such method")
    print(f"web matrix: {len(found)} routes x {len(w.whos)} actors = {m.cells} cells")
    report = [*uncovered, *m.problems]  # both at once: a new page may be both
    assert not report, f"{len(uncovered)} routes outside the matrix, {len(m.problems)} holes:\n" + (
        "\n".join(report)
    )
    # The table is derived; a few cells pinned show the world is the one meant (not vacuous).
    contract = "/portal/contracts/{contract_id}"
    assert m.seen[(contract, False, "customer A")] == 200
    assert m.seen[(contract, False, "customer B")] == 403
    assert m.seen[("/portal/access-requests/{request_id}", False, "customer A")] == 200
    assert m.seen[("/console/cases/{case_id}", False, "support")] == 200
    assert m.seen[("/console/customers/{customer_id}", False, "other")] == 403
