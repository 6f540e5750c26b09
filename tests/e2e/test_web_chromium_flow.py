"""The whole consent story through the real pages in Debian's Chromium (issue 18): a support
agent signs into the console (password and authenticator code), finds the customer, opens a
case, identifies the caller and asks for read-only access to her mailbox; the customer, who
reads French, gets the request by mail through a real SMTP relay, signs in on the page it links
to and approves, in French; the agent's IMAP logins at a real Dovecot pass only under the
grant; the agent resolves the case; the customer reads the closing summary in her history,
the refused logins included, and checks a receipt in the browser.

One installation (tests/e2e/flow_world.py), on SQLite only: every page and service is tested on
both databases by its own tests; this one proves the parts work together through the browser,
the relay and the mail server, and it costs a Chromium and a Dovecot. Every portal page the
customer sees is checked with axe-core (no serious or critical fault) and for CSP violations."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from entrusted.adapters.i18n import translations
from entrusted.domain.audit import AuditEntry
from tests.e2e.browser import axe_violations, csp_violations, describe, watch_problems
from tests.e2e.flow_world import (
    CUSTOMER_PASSWORD,
    STAFF_PASSWORD,
    Customer,
    FlowWorld,
    flow_world,
    text_of,
)
from tests.integration.test_mail_dovecot import FromFreshAddress

if TYPE_CHECKING:
    import pyotp
    from playwright.sync_api import Page, Response

pytestmark = pytest.mark.promise("P9", "P10", "P11", "P14")

WHY = "Webmail shows an error for this mailbox; I need to look at it."
TICKET = "HD-4711"
ASKED = "Le support demande l\u2019accès à votre boîte aux lettres"  # the French mail's subject
REFUSED = "[AUTHENTICATIONFAILED]"  # Dovecot's answer to every refused login
FR = translations("fr").gettext
UNNAMED_LOAD_FAILURE = "console error: Failed to load resource: the server responded with"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FlowWorld]:
    with flow_world(tmp_path) as w:
        yield w


def imap_login(w: FlowWorld, user: str, password: str = STAFF_PASSWORD) -> str:
    """How the inbox opened after logging in, "READ-ONLY" or "READ-WRITE" (by SELECT, not
    EXAMINE, so that the server's ACLs decide), or the server's refusal. Each login comes from
    its own loopback address: Dovecot's anvil slows every login from an address after a
    failed one."""
    conn = FromFreshAddress("127.0.0.1", w.dovecot.port, timeout=15)
    try:
        conn.login(user, password)
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        return str(exc)
    try:
        conn.select("INBOX")
        opened = "READ-WRITE"
    except imaplib.IMAP4.readonly:
        conn.is_readonly = True
        opened = "READ-ONLY"
    conn.logout()
    return opened


def ledgered(w: FlowWorld, actor_id: str) -> list[AuditEntry]:
    store = w.c.ledger_store
    entries = (AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size()))
    return [e for e in entries if e.actor_id == actor_id]


def watched(page: Page) -> Callable[[], list[str]]:
    """What went wrong on `page` so far: console errors and warnings, script errors, failed
    requests, answers of 400 or more to the page's own requests, and CSP violations. Chromium's
    console line for a failed load is left out (it names no address): Chromium asks every
    site for /favicon.ico, which no page links to and the server does not have; the page's own
    requests that failed are each listed by their address instead."""
    problems = watch_problems(page)

    def answered(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"{response.status} {response.url}")

    page.on("response", answered)

    def found() -> list[str]:
        return [p for p in problems if UNNAMED_LOAD_FAILURE not in p] + csp_violations(page)

    return found


def clean(page: Page, problems: Callable[[], list[str]]) -> None:
    """No serious or critical accessibility fault, no CSP violation, nothing failed."""
    faults = axe_violations(page)
    assert faults == [], f"{page.url}\n{describe(faults)}"
    assert problems() == [], page.url


def french(page: Page, heading: str | None = None) -> None:
    """The page is in French; its h1, if given in English, is the catalogue's French for it."""
    assert page.locator("html").get_attribute("lang") == "fr", page.url
    assert page.inner_text("header form button") == FR("Sign out")
    if heading is not None:
        assert FR(heading) != heading, f"no French for {heading!r}"
        assert page.inner_text("h1") == FR(heading), page.url


# --- 1. the support agent, in the console ----------------------------------------------------


def console_sign_in(page: Page, w: FlowWorld, username: str, totp: pyotp.TOTP) -> None:
    page.goto(f"{w.url}/console/signin")
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#totp", totp.now())
    page.click("button[type=submit]")
    page.wait_for_url(f"{w.url}/console/")


def find_and_open_case(page: Page, w: FlowWorld, who: Customer) -> str:
    """Find the caller by e-mail for a helpdesk ticket, open a case on her contract; the
    case's id, read from the page's address."""
    page.click("text=Find a customer")
    page.select_option("#find-by", "email")
    page.fill("#find-value", who.email)
    page.fill("#find-ticket", TICKET)
    page.click("#find-submit")
    page.click(f"#result-{who.id} a")
    assert page.inner_text("#customer-identified").startswith("no")  # hints only so far
    page.select_option("#case-contract", who.contract_id)
    page.fill("#case-subject", "Webmail shows an error")
    page.click("#case-open-submit")
    page.wait_for_url(re.compile(r"/console/cases/case_"))
    return page.url.rsplit("/", 1)[1]


def identify_caller(page: Page, w: FlowWorld, who: Customer) -> None:
    """On the case page: a code by e-mail to the address on file, read back by the caller."""
    before = len(w.mails_to(who.email))
    page.select_option("#identify-method", "email_code")
    page.click("#identify-submit")
    page.wait_for_selector("#identify-code")
    texts = [text_of(m) for m in w.mails_to(who.email)[before:]]
    (code,) = [found.group(1) for t in texts if (found := re.search(r"\b(\d{6})\b", t))]
    page.fill("#identify-code", code)
    page.click("#identify-verify-submit")
    page.wait_for_selector("#case-identifications")
    assert page.inner_text("#case-identifications .status") == "verified"


def request_access(page: Page, w: FlowWorld, who: Customer, case_id: str) -> str:
    """The mailbox's service id from the (now identified) customer's page, then the request
    on the case page: read-only, one session. Returns the request's id."""
    page.click(f"a[href='/console/customers/{who.id}?case_id={case_id}']")
    assert page.inner_text("#customer-identified") == "yes"
    row = page.locator("tr", has_text=who.mailbox)
    service_id = row.locator("code").first.inner_text()
    assert service_id == who.mailbox_id
    page.goto(f"{w.url}/console/cases/{case_id}")
    page.fill("#request-service", service_id)
    page.fill("#request-reason", WHY)
    page.check("#request-read-only")
    page.click("#request-submit")
    page.wait_for_selector("#case-requests")
    cells = page.locator("#case-requests tbody tr td")
    assert "read-only" in cells.nth(2).inner_text()
    assert page.inner_text("#case-requests .status") == "pending"
    return cells.first.inner_text()


# --- 2. the customer, in the portal ------------------------------------------------------------


def approve_from_mail(page: Page, w: FlowWorld, who: Customer, request_id: str) -> None:
    problems = watched(page)
    (mail,) = [m for m in w.mails_to(who.email) if m["Subject"] == ASKED]
    link = re.search(
        re.escape(f"{w.url}/portal/access-requests/{request_id}#token=") + r"\S+", text_of(mail)
    )
    assert link is not None, text_of(mail)
    page.goto(link.group(0))
    clean(page, problems)  # the sign-in form on the request's own page
    assert "#token=" not in page.url  # consent.js took the token out of the address bar
    page.fill("#email", who.email)
    page.fill("#password", CUSTOMER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("form[action$='/approve']")
    # In her registry language, though the browser asks for English:
    french(page, "Support asks to access your mailbox")
    assert WHY in page.inner_text("main")
    clean(page, problems)
    page.click("form[action$='/approve'] button")
    page.wait_for_selector("[role=status].ok")
    french(page, "You approved the access")
    clean(page, problems)


def history_with_summary(page: Page, w: FlowWorld, who: Customer, case_id: str) -> None:
    """Her history, the case's closing summary with the refused logins, and the receipt of
    the first refusal checked in the browser (static/verify-receipt.js)."""
    problems = watched(page)
    page.goto(f"{w.url}/portal/history")
    french(page, "My access history")
    clean(page, problems)
    case = page.locator(f"section[data-case={case_id}]")
    # The login before she approved is filed under the case: the request was pending.
    assert case.locator("tr[data-decision=deny]", has_text="mailbox-closed-to-staff").count() == 1
    case.locator(f"a[href='/portal/history/cases/{case_id}']").click()
    page.wait_for_selector("#closing-summary")
    french(page)
    assert page.inner_text("h2#summary-heading") == FR("Closing summary") != "Closing summary"
    clean(page, problems)
    accesses = page.locator("#closing-summary li").all_inner_texts()
    assert len(accesses) == 3, accesses  # refused, then allowed once, then refused (spent)
    assert all("Sam Muster" in a and who.mailbox in a for a in accesses), accesses
    assert [f"({FR('refused')})" in a for a in accesses] == [True, False, True], accesses
    refused = page.locator("tr[data-decision=deny]", has_text="mailbox-closed-to-staff")
    refused.locator("button[data-check-receipt]").click()
    verdict = page.locator("#receipt-check[role=status]")
    page.wait_for_selector("#receipt-check[data-result=ok], #receipt-check[data-result=failed]")
    assert verdict.get_attribute("data-result") == "ok", verdict.inner_text()
    assert problems() == []


@pytest.mark.slow
def test_the_consent_story_through_the_pages(
    world: FlowWorld, new_page: Callable[..., Page]
) -> None:
    w = world
    sam, totp = w.support_agent("sam")
    lea, other = w.customer(1, "fr"), w.customer(2, "fr")
    agent, browser_of_lea = new_page(), new_page(locale="en-GB")
    agent_problems = watched(agent)

    # 1. The agent signs in, finds Léa, opens a case, identifies her, asks for access.
    console_sign_in(agent, w, "sam", totp)
    case_id = find_and_open_case(agent, w, lea)
    identify_caller(agent, w, lea)
    request_id = request_access(agent, w, lea, case_id)
    assert agent_problems() == []

    # Before Léa answers, the mail server refuses the agent, and the refusal is ledgered.
    assert REFUSED in imap_login(w, f"{lea.mailbox}*sam")

    # 2. Léa reads the mail (French), opens its link, signs in and approves, in French.
    approve_from_mail(browser_of_lea, w, lea, request_id)

    # 3. Under the grant: Léa's mailbox, read-only, once; never another customer's.
    assert REFUSED in imap_login(w, f"{other.mailbox}*sam")
    assert imap_login(w, f"{lea.mailbox}*sam") == "READ-ONLY"
    assert REFUSED in imap_login(w, f"{lea.mailbox}*sam")  # its one session is spent
    logins = [
        (e.owner, e.decision, e.rule)
        for e in ledgered(w, sam.id)
        if e.resource_kind == "mailbox_content"
    ]
    assert logins == [
        (lea.id, "deny", "mailbox-closed-to-staff"),  # before she approved
        (other.id, "deny", "mailbox-closed-to-staff"),  # no grant on that mailbox
        (lea.id, "allow", "staff-read-mail-under-grant"),
        (lea.id, "deny", "consent.sessions-spent"),
    ]

    # 4. The agent resolves the case.
    agent.click("#case-resolve-submit")
    agent.wait_for_selector("#case-reopen")
    assert agent.inner_text("#case-status") == "resolved"
    assert agent_problems() == []

    # 5. Léa is mailed the closing summary (in French), reads it in her history, with the
    # refused logins, and checks a receipt in the browser.
    closing = FR("Case %(case)s resolved: what was accessed") % {"case": case_id}
    assert [m["Subject"] for m in w.mails_to(lea.email)].count(closing) == 1
    history_with_summary(browser_of_lea, w, lea, case_id)
