"""The versioned public policy document (issue 16 item 3, P17): its versions, with the shipped
default as version 1 so `/privacy` has a text from the first start, and the version in force
recorded on each consent grant.

Revision ID: 0018
Revises: 0017
"""

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from entrusted.adapters.db.types import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Frozen here, as a migration must be: the shipped text as it was when this revision was
# written (normalised), so version 1 never depends on when an installation upgraded. A test
# (tests/unit/test_policy_document.py) fails when the shipped default drifts from the last
# migration that installed it: a new default needs a new migration.
AUTHOR = "entrusted"
SUMMARY = "the policy document shipped with Entrusted"
TEXT = """\
How we look after the data you entrust to us

This page says what we do with the personal details and the data you keep with us, who on
our staff can reach which of it, and on what terms. Every rule below is enforced by our
systems, not only by good intentions, and every access is recorded so that it can be checked
afterwards. Where a section ends with codes such as [P1], they name the commitment it states;
our audit records use the same codes.

## Your personal details and why we ask for them [P1]

When you sign up we ask for your last name, first name, phone and mobile numbers and e-mail
address. We use them for one purpose: to recognise you as the holder of your contract when
you call or write to our support, and when a contract moves from one holder to another.

## How your details are protected [P2, P12]

Your details are stored encrypted. Nobody can read, change or hand them on except through a
single access check that applies our rules to every request. This is how we make sure every
member of our staff follows these rules in full: there is no way around the check.

## Everything sensitive is recorded [P3, P14]

Every access to sensitive data, whether it was allowed or refused, is written to an audit
record that cannot be altered or shortened without it showing. The record names who acted,
on what and why, never your details themselves. You can ask to see the entries about you.

## We do not sell or share your details [P4, P5]

We never sell your details, never rent them out and never hand over our customer file, for
any purpose. We give your details to nobody who asks for them. The only exception is an
order of a Swiss court that requires it; we then disclose exactly what the order covers and
nothing more, and we tell you unless the order forbids it.

## What we send you, and who sends it [P6, P7]

We write to our own customers ourselves. We do not send mailings for anyone else, and nobody
else sends mailings in our name. We write to you only about a technical incident that
affects your services, about a new service, or about a change to our terms, such as a new
version of this document.

## Who can technically reach your data [P8]

Apart from visitors to your website and your own updates over FTP, only our system
administrators and our support team have technical access to your data, and only to keep
our servers running and to help you. Other staff have no technical access.

## Your FTP backup space is private [P9]

The FTP space for your backups is yours alone. None of our staff may enter it unless you
have first been clearly identified and have agreed, at least by telephone, for example so
that we can help with a problem. When you agree, you receive a written confirmation.

## Your e-mail is confidential [P10, P11]

Your mailboxes are strictly confidential: only you, with your own credentials and your own
e-mail software, may open them. If our support needs to look into a mailbox, for instance
because mail is slow and our servers show nothing wrong, we ask you first. Your permission
covers one mailbox, one support case and one use; it ends as soon as the case is resolved.

## What support sees without asking [P13]

To help you, our support team can see how large each of your mailboxes is, the names of its
folders and how many messages each folder holds. They cannot see anything about a message:
not its size, sender, recipients, subject, date or content.

## Backups [P15, P16]

We back up everything we host so that your data survives a failure. Backups follow the same
rules as the data itself, and only our system administrators can use them; our support team
cannot. Every backup is destroyed after one week, including when a contract ends early or at
its term.

## This document changes over time [P17]

We may change this document. The version in force is always published on our website, and
every earlier version stays available there too. Anyone can read them at any time, without
an account. When we publish a new version, we write to our customers to say so.
"""


def upgrade() -> None:
    versions = op.create_table(
        "policy_document_version",
        sa.Column("number", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("effective", sa.Date, nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_policy_document_version"),
    )
    op.add_column("consent_grant", sa.Column("policy_version", sa.Integer, nullable=True))
    # The shipped text is version 1 from the day the schema is installed or upgraded.
    now = datetime.now(UTC)
    text = TEXT
    op.bulk_insert(
        versions,
        [
            {
                "number": 1,
                "text": text,
                "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                "effective": now.date(),
                "author": AUTHOR,
                "summary": SUMMARY,
                "published_at": now,
            }
        ],
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch copy of consent_grant would
    # have to rebuild the tables that reference it.
    op.execute("ALTER TABLE consent_grant DROP COLUMN policy_version")
    op.drop_table("policy_document_version")
