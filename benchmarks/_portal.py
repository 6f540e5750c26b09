"""The portal's access history under a long past (issue 18): a customer with `entries` ledger
entries of their own, signed in through `/portal/signin` like a browser.

Why copies of real decisions: ten thousand requests through `serve` would take minutes before
the run starts. So the fixture's own traffic (registration, password, logins, a support case,
an access request and its grant, an IMAP login under it, refused ones beside) is made through
the services first; each entry of that customer is then appended again through the same ledger
writer the gate uses (`GroupCommitLedger.append_many`, in batches), with a fresh time and
nonce, until the customer owns `entries`. Every one is a real, hashed ledger entry whose owner
is that customer, with the real staff id, case and grant the page looks up; nothing is written
into the table beside the ledger.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime

import httpx

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Actor, ActorKind
from entrusted.errors import Refused

BATCH = 500
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def owned(c: Container, customer_id: str) -> list[AuditEntry]:
    """The customer's entries as the ledger holds them."""
    store = c.ledger_store
    rows = store.entries_for_customer(customer_id, store.stored_size())
    return [AuditEntry.from_bytes(body) for _, body in rows]


def seed(c: Container, customer_id: str, entries: int) -> int:
    """Append copies of the customer's real entries until they own `entries`; their count."""
    real = owned(c, customer_id)
    if not real:
        raise RuntimeError(f"the fixture left no ledger entry owned by {customer_id}")
    missing = entries - len(real)
    n = 0
    while missing > 0:
        batch = [
            replace(real[(n + i) % len(real)], time=datetime.now(UTC), nonce=os.urandom(32))
            for i in range(min(BATCH, missing))
        ]
        c.ledger.append_many(batch)
        n += len(batch)
        missing -= len(batch)
    return len(owned(c, customer_id))


def mail_logins(c: Container, token_owner: Actor, staff: str, password: str) -> None:
    """One allowed IMAP login under the fixture's grant (box0) and one refused (box1, no
    grant), through the mail gate's service, so the history holds both kinds."""
    mail = c.mail_login
    mail.login(token_owner, "box0@example.net", staff, password, "127.0.0.1")
    try:
        mail.login(token_owner, "box1@example.net", staff, password, "127.0.0.1")
    except Refused:
        return
    raise RuntimeError("a staff login without a grant passed the mail gate")


def mail_hook() -> Actor:
    return Actor(ActorKind.SERVICE, "mail_hook")


def sign_in(base: str, email: str, password: str) -> str:
    """The portal session cookie's value after a real sign-in (form token and all)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        page = http.get("/portal/signin")
        found = _CSRF.search(page.text)
        if page.status_code != 200 or found is None:
            raise RuntimeError(f"/portal/signin answered {page.status_code} without a form")
        form = {"email": email, "password": password, "csrf": found.group(1)}
        r = http.post("/portal/signin", data=form, follow_redirects=False)
        if r.status_code != 303:
            raise RuntimeError(f"portal sign-in answered {r.status_code}")
        cookie = r.cookies.get("entrusted_portal")
        if not cookie:
            raise RuntimeError("portal sign-in set no entrusted_portal cookie")
    # the header alone, as wrk will send it (no client's cookie jar)
    check = httpx.get(base + "/portal/history", headers={"Cookie": f"entrusted_portal={cookie}"})
    if check.status_code != 200:
        raise RuntimeError(f"/portal/history answered {check.status_code} when signed in")
    return str(cookie)
