"""Who acts when no person's credential does: the worker's jobs and the console operator."""

from __future__ import annotations

from entrusted.domain.policy import OPERATOR_PREFIX, Actor, ActorKind

# Who the worker's jobs act as, in the ledger (the rules let a service expire grants).
WORKER = Actor(ActorKind.SERVICE, "worker")


def console_operator() -> Actor:
    """The machine's operator at this console (`cli:user@host`): who staff administration
    acts as when no staff member's credential is given. No API token can carry this id."""
    import getpass
    import socket

    who = f"{OPERATOR_PREFIX}{getpass.getuser()}@{socket.gethostname()}"
    return Actor(ActorKind.SERVICE, who[:64])
