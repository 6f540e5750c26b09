"""Ids on the command line are checked for their shape (`domain.ids`) before the command runs:
text of another shape (an e-mail address where a customer id belongs) is a usage error, exit
code 2, and never reaches a service or the ledger. The message does not repeat the text."""

from __future__ import annotations

from collections.abc import Callable

import typer

from entrusted.domain.ids import IdKind, id_problem, is_id


def id_of(kind: IdKind) -> Callable[[str | None], str | None]:
    """A Typer `callback` refusing a value that is given but is no id of `kind`."""

    def check(value: str | None) -> str | None:
        if value is not None and not is_id(kind, value):
            raise typer.BadParameter(id_problem(kind))
        return value

    return check
