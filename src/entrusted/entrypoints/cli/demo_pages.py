"""The demo's pages step (issue 18): a customer who reads French, registered by the signup
site, sets a password through the link in her (French) mail, as she would in the portal; the
step prints where the portal and the console are and who can sign in to each."""

from __future__ import annotations

from faker import Faker

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.context import console
from entrusted.entrypoints.cli.demo_messages import mails
from entrusted.services.registry_forms import Registration, ServiceRequest

SIGNUP = Actor(ActorKind.SERVICE, "signup")
PORTAL_EMAIL = "camille.exemple@example.com"
PORTAL_PASSWORD = "demo-portal-password"  # noqa: S105 - a published demo credential


def pages_step(c: Container, fake: Faker) -> None:
    del fake  # the customer's name is fixed so the printed sign-in always works
    done = c.registry.register(
        SIGNUP,
        Registration(
            last_name="Exemple",
            first_name="Camille",
            email=PORTAL_EMAIL,
            phone="+41 22 000 00 77",
            services=(ServiceRequest("mailbox", "camille@example.net"),),
            language="fr",
            time_zone="Europe/Zurich",
        ),
    )
    c.outbox.deliver()
    letter = next(m for m in reversed(mails(c)) if m.to == PORTAL_EMAIL and "#token=" in m.body)
    token = letter.body.split("#token=")[1].split()[0]
    c.customer_auth.set_password(token, PORTAL_PASSWORD)
    console.print(f"  {done.customer_id} got her password link in French: “{letter.subject}”")
    console.print(f"  and set a password through it, as /portal/password does ({PORTAL_EMAIL})")
    base = c.settings.portal_url.rstrip("/")
    console.print(f"  portal:  {base}/signin   {PORTAL_EMAIL} / {PORTAL_PASSWORD}")
    site = base.rsplit("/portal", 1)[0]
    console.print(
        f"  console: {site}/console/signin   any demo staff member (the demo turns TOTP off)"
    )
    console.print(f"  how to check our records yourself: {base}/verify")
