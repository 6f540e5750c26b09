"""The policy's closed vocabulary (P8, P12): who acts (`ActorKind`, `Role`, `Service`), what
they do (`Action`) to what (`ResourceKind`), under which conditions (`Condition`), with which
effect (`Effect`) and what remains to do when allowed (`Obligation`).

Why apart from the engine (`domain/policy.py`, which re-exports every name here): the rules
file, the ledger, the services and every entrypoint speak these words, while only the gate
and the analysis need the engine; and the policy module stays under the size STYLE asks for.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a staff member is hired to do; only support and sysadmin touch customer data (P8)."""

    SUPPORT = "support"
    SYSADMIN = "sysadmin"
    LEGAL = "legal"
    COMMUNICATIONS = "communications"
    OTHER = "other"


class ActorKind(StrEnum):
    STAFF = "staff"
    CUSTOMER = "customer"
    SERVICE = "service"
    THIRD_PARTY = "third_party"
    PUBLIC = "public"


class Service(StrEnum):
    """Which integration a service actor is: each reaches only what it needs, so the rules name
    them one by one (`service` in a rule stands for all of them). A service actor whose id is
    none of these (say, a retired integration's token) has no principal any rule names."""

    SIGNUP = "signup"  # the signup site registers customers and contracts
    MAIL_HOOK = "mail_hook"  # Dovecot's login hook: asks on behalf of staff, closes sessions
    FTP_SERVER = "ftp_server"  # the FTP authorizer: asks on behalf of staff, closes sessions
    WORKER = "worker"  # the periodic jobs: expiry and backup retention
    OPERATOR = "operator"  # the machine's operator at the console (`cli:user@host`)
    PROVISIONING = "provisioning"  # the hoster's provisioning system syncs customers/services


OPERATOR_PREFIX = "cli:"  # the id prefix of the console operator's actor (no token carries it)


class Action(StrEnum):
    IDENTIFY = "identify"
    READ = "read"
    UPDATE = "update"
    LIST_METADATA = "list_metadata"
    ENTER = "enter"
    RESTORE = "restore"
    LIST = "list"
    EXPORT = "export"
    DISCLOSE = "disclose"
    MAIL = "mail"
    PUBLISH = "publish"
    CREATE = "create"
    DELETE = "delete"
    APPROVE = "approve"
    RESOLVE = "resolve"
    TRANSFER = "transfer"
    DESTROY = "destroy"


class ResourceKind(StrEnum):
    PERSONAL_DETAILS = "personal_details"
    CONTRACT = "contract"
    MAILBOX_CONTENT = "mailbox_content"
    MAILBOX_METADATA = "mailbox_metadata"
    FTP_SPACE = "ftp_space"
    FTP_SPACE_METADATA = "ftp_space_metadata"  # a space's file count and total size, no names
    BACKUP = "backup"
    LEDGER = "ledger"
    POLICY_DOCUMENT = "policy_document"
    CUSTOMER_FILE = "customer_file"  # the bulk set of every customer's details (P4)
    CASE = "case"
    GRANT = "grant"
    MAILING = "mailing"
    STAFF_ACCOUNT = "staff_account"
    DISCLOSURE = "disclosure"  # a third-party request and the court order registered for it
    POLICY_RULES = "policy_rules"
    EVIDENCE_REPORT = "evidence_report"  # the proof-of-promises report: counts and ids only


class Condition(StrEnum):
    ACTIVE_GRANT = "active_grant"  # consent for this staff member + resource + case (P9, P11)
    CALLER_IDENTIFIED = "caller_identified"  # caller identified on the case recently (P1, P9)
    COURT_ORDER = "court_order"  # a registered Swiss court order covers the resource (P5)
    OWNS_RESOURCE = "owns_resource"  # the resource belongs to the acting customer
    ALLOWED_MAILING_PURPOSE = "allowed_mailing_purpose"  # incident, new service, terms (P7)
    OWN_CUSTOMER = "own_customer"  # every recipient is one of our own customers (P6)


class Effect(StrEnum):
    """A rule's effect, and a decision's: a default denial is FORBID with no rule id."""

    PERMIT = "permit"
    FORBID = "forbid"


class Obligation(StrEnum):
    """What the caller must still do when a rule allows; the gate hands these to the service."""

    METADATA_ONLY = "metadata_only"  # return sizes, folder names and counts, nothing else (P13)
    SCOPE_TO_COURT_ORDER = "scope_to_court_order"  # disclose exactly what the order covers (P5)
    ENDS_WITH_CASE = "ends_with_case"  # the grant is revoked when its case is resolved (P11)
    DESTROY_AFTER_7_DAYS = "destroy_after_7_days"  # backup retention (P16)
