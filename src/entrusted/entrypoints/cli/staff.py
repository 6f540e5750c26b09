"""`entrusted staff ...`: staff members, roles, second factors and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from entrusted.entrypoints.cli.context import (
    admin_actor,
    console,
    container,
    guarded,
    read_secret,
)

app = typer.Typer(
    help="Manage staff members, their roles, second factors and API tokens. Each step is "
    "ledgered as the machine's operator (OS user and host), or as the sysadmin whose token "
    "is in ENTRUSTED_TOKEN.",
    no_args_is_help=True,
)


ID_WIDTH = 20
_FOLDED = 6  # name and roles: at least this wide, their text folded onto more lines
_FIXED_MIN = 2 * _FOLDED + 3 + len("disabled")  # with 2FA and status, never cut


def _id_column() -> Column:
    """Ids are copied into other commands (`staff revoke tok_...`): never truncate them."""
    return Column("id", no_wrap=True, min_width=ID_WIDTH)


@app.command("add")
@guarded
def add(
    username: Annotated[str, typer.Argument(help="Login name: lowercase letters, digits, . _ -")],
    name: Annotated[
        str, typer.Option("--name", help="Display name shown in the ledger and console.")
    ],
    role: Annotated[
        list[str],
        typer.Option(
            "--role", help="support, sysadmin, legal, communications or other; repeat for several."
        ),
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a staff member with one or more roles (prompts for a password)."""
    password = read_secret("Password", password_stdin)
    with container() as c:
        member = c.staff.add(username, name, role, password, by=admin_actor(c))
    console.print(
        f"added {member.username} ({member.id}) with roles {', '.join(sorted(member.roles))}"
    )


@app.command("list")
@guarded
def list_() -> None:
    """List staff members, their roles and whether they are active."""
    with container() as c:
        members = c.staff.list_members()
    # Usernames are what `--as` takes: like ids, never cut; the free-text columns fold.
    longest = max((len(m.username) for m in members), default=len("username"))
    table = Table(
        Column("username", no_wrap=True, min_width=longest),
        _id_column(),
        Column("name", overflow="fold", min_width=_FOLDED),
        Column("roles", overflow="fold", min_width=_FOLDED),
        Column("2FA", no_wrap=True, min_width=3),
        Column("status", no_wrap=True, min_width=len("disabled")),
    )
    for m in members:
        table.add_row(
            m.username,
            m.id,
            Text(m.display_name),  # free text: never interpreted as rich markup
            ", ".join(sorted(m.roles)),
            "yes" if m.totp_enabled else "no",
            "active" if m.active else "disabled",
        )
    # Below the width the uncut columns need, rich would shrink them too: the table is then
    # drawn wider than the terminal (which wraps the lines; no value is cut).
    needed = longest + ID_WIDTH + _FIXED_MIN + 3 * len(table.columns) + 1
    if console.width < needed:
        table.width = needed
    console.print(table, crop=False)


@app.command("disable")
@guarded
def disable(username: Annotated[str, typer.Argument(help="The staff member to disable.")]) -> None:
    """Disable a staff member: their tokens, grants and mail sessions end at once."""
    with container() as c:
        c.staff.disable(username, by=admin_actor(c))
    console.print(f"disabled {username}; all their tokens are revoked and their grants ended")


@app.command("roles")
@guarded
def roles(
    username: Annotated[str, typer.Argument(help="Whose roles.")],
    role: Annotated[
        list[str], typer.Option("--role", help="The complete new set; repeat for several.")
    ],
) -> None:
    """Replace a staff member's roles; a role taken away ends the grants they hold."""
    with container() as c:
        member = c.staff.set_roles(username, role, by=admin_actor(c))
    console.print(f"{member.username} now holds {', '.join(sorted(member.roles))}")


@app.command("token")
@guarded
def token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "cli",
    ttl_days: Annotated[
        int | None,
        typer.Option("--ttl-days", help="Lifetime in days (at most token_max_ttl_days)."),
    ] = None,
) -> None:
    """Create a personal API token, ledgered as issued by you. It is shown once; only its
    hash is stored."""
    with container() as c:
        issued = c.staff.issue_token(username, label, ttl_days, by=admin_actor(c))
    console.print(f"token {issued.token.id} (expires {issued.token.expires_at:%Y-%m-%d}):")
    console.print(issued.secret, highlight=False, soft_wrap=True)


@app.command("service-token")
@guarded
def service_token(
    service: Annotated[str, typer.Argument(help="signup, mail_hook, ftp_server or provisioning")],
    label: Annotated[
        str, typer.Option("--label", help="Which installation uses it.")
    ] = "integration",
    ttl_days: Annotated[int | None, typer.Option("--ttl-days", help="Lifetime in days.")] = None,
) -> None:
    """Create a scoped token for an integration (signup site, mail hook, FTP server,
    provisioning system)."""
    with container() as c:
        issued = c.staff.issue_service_token(service, label, ttl_days, by=admin_actor(c))
    console.print(f"service token {issued.token.id} for {service}:")
    console.print(issued.secret, highlight=False, soft_wrap=True)


@app.command("revoke")
@guarded
def revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (tok_...), as listed by `tokens`.")],
) -> None:
    """Revoke one API token."""
    with container() as c:
        c.staff.revoke_token(token_id, by=admin_actor(c))
    console.print(f"revoked {token_id}")


@app.command("tokens")
@guarded
def tokens(username: Annotated[str, typer.Argument(help="Whose tokens.")]) -> None:
    """List a staff member's tokens (ids and dates, never the secrets)."""
    with container() as c:
        found = c.staff.tokens(username)
    table = Table(_id_column(), "label", "created", "expires", "revoked")
    for t in found:
        table.add_row(
            t.id,
            Text(t.label),
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.expires_at:%Y-%m-%d}",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console.print(table)


@app.command("totp-enrol")
@guarded
def totp_enrol(
    username: Annotated[str, typer.Argument(help="Who enrols.")],
    code: Annotated[
        str | None,
        typer.Option("--code", help="A code from the current authenticator, to replace it."),
    ] = None,
) -> None:
    """Start TOTP enrolment: prints the otpauth:// URI to load into an authenticator app. An
    active second factor stays in force until the new one is confirmed."""
    with container() as c:
        uri = c.staff.enroll_totp(username, code, by=admin_actor(c))
    console.print(uri, highlight=False, soft_wrap=True)
    console.print("confirm with: entrusted staff totp-confirm USERNAME CODE")


@app.command("totp-reset")
@guarded
def totp_reset(username: Annotated[str, typer.Argument(help="Whose second factor.")]) -> None:
    """Switch a staff member's second factor off (a lost phone); ledgered. They enrol anew."""
    with container() as c:
        c.staff.reset_totp(username, by=admin_actor(c))
    console.print(f"TOTP reset for {username}; enrol a new one: entrusted staff totp-enrol")


@app.command("totp-confirm")
@guarded
def totp_confirm(
    username: Annotated[str, typer.Argument(help="Who enrols.")],
    code: Annotated[str, typer.Argument(help="The 6-digit code the app shows now.")],
) -> None:
    """Finish TOTP enrolment; from now on logins need a code."""
    with container() as c:
        c.staff.confirm_totp(username, code, by=admin_actor(c))
    console.print(f"TOTP enabled for {username}")
