"""What the provisioning system sends, checked (issue 17): API bodies and import rows become
the planner's items (`services/provisioning_plan.py`), every error naming its field, before
anything is decided or written. Personal details are checked as a registration is
(`registry_forms`), and an import row of personal details is read as `entrusted customers
import` reads it.

An import file has one record per row (CSV with a header, or a JSON list of objects), applied
in order; the `record` column says what it is:

| record            | columns                                                   |
|-------------------|-----------------------------------------------------------|
| `customer`        | external_id, last_name, first_name, email, phone, mobile, |
|                   | language, time_zone (both optional)                       |
| `contract`        | external_id, customer (the holder's customer external id) |
| `service`         | contract, external_id, kind, name                         |
| `remove_service`  | contract, external_id                                     |
| `cancel_contract` | external_id                                               |

A customer's `language` (en, fr, de, it) and `time_zone` (an IANA name) are checked by the
validators registration uses; left out or blank, the stored ones stay as they are (a new
customer gets the configured defaults).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from entrusted.domain.provisioning import (
    ContractCancellation,
    ContractItem,
    CustomerItem,
    Item,
    ServiceItem,
    ServiceRemoval,
    clean_external_id,
    parse_kind,
)
from entrusted.domain.registry import SealedCustomer
from entrusted.errors import InvalidInput
from entrusted.services.ports import ContactNormaliser
from entrusted.services.registry_forms import (
    Registration,
    ServiceRequest,
    registration_from_row,
    validate_details,
    validate_preferences,
    validate_services,
)

RECORDS = ("customer", "contract", "service", "remove_service", "cancel_contract")
# Every column a row may have: a column the file names beyond these (a typo such as `mobil`)
# would otherwise be ignored and read as an empty value, which clears that detail.
COLUMNS = frozenset(
    {"record", "external_id", "customer", "contract", "kind", "name"}
    | {"last_name", "first_name", "email", "phone", "mobile", "language", "time_zone"}
)


def preferred_as(sealed: SealedCustomer, item: CustomerItem) -> SealedCustomer:
    """`sealed` with the language and time zone `item` sent (those it left out unchanged)."""
    return replace(
        sealed,
        language=sealed.language if item.language is None else item.language,
        time_zone=sealed.time_zone if item.time_zone is None else item.time_zone,
    )


def check_columns(names: Iterable[str]) -> None:
    """InvalidInput naming the columns no record reads (a header typo, a `;`-separated file)."""
    unknown = sorted(set(names) - COLUMNS)
    if unknown:
        hint = " (is the file comma-separated?)" if any(";" in n for n in unknown) else ""
        raise InvalidInput(
            "columns",
            f"unknown column(s) {', '.join(unknown)}{hint}; the columns are "
            f"{', '.join(sorted(COLUMNS))}",
        )


def customer_item(contacts: ContactNormaliser, number: str, form: Registration) -> CustomerItem:
    """The customer `form` describes: details, language and time zone checked exactly as a
    registration checks them (`registry_forms`), each error naming its field."""
    number = clean_external_id(number, "external_id")
    details = validate_details(contacts, form)
    try:
        preferences = validate_preferences(form)
    except InvalidInput as exc:  # the zone's message quotes it: the ledger gets no text sent
        if exc.field != "time_zone":
            raise
        raise InvalidInput("time_zone", "is not a known IANA time zone") from None
    return CustomerItem(number, details, preferences["language"], preferences["time_zone"])


def contract_item(number: str, customer: str) -> ContractItem:
    return ContractItem(
        clean_external_id(number, "external_id"), clean_external_id(customer, "customer")
    )


def service_item(
    contacts: ContactNormaliser, contract: str, number: str, kind: str, name: str
) -> ServiceItem:
    parsed = parse_kind(kind, "kind")
    try:
        ((_, clean),) = validate_services(contacts, [ServiceRequest(parsed.value, name)])
    except InvalidInput as exc:
        raise InvalidInput("name", exc.message.partition(": ")[2]) from None
    return ServiceItem(
        clean_external_id(contract, "contract"),
        clean_external_id(number, "external_id"),
        parsed,
        clean,
    )


def removal_item(contract: str, number: str) -> ServiceRemoval:
    return ServiceRemoval(
        clean_external_id(contract, "contract"), clean_external_id(number, "external_id")
    )


def cancellation_item(number: str) -> ContractCancellation:
    return ContractCancellation(clean_external_id(number, "external_id"))


def item_from_row(contacts: ContactNormaliser, row: Mapping[str, str | None]) -> Item:
    """One import row as an item; InvalidInput naming the missing or bad column."""

    def get(name: str) -> str:
        value = row.get(name)
        if value is None or not str(value).strip():
            raise InvalidInput(name, "is missing")
        return str(value)

    record = get("record").strip()
    if record == "customer":
        return customer_item(contacts, get("external_id"), registration_from_row(row))
    if record == "contract":
        return contract_item(get("external_id"), get("customer"))
    if record == "service":
        return service_item(contacts, get("contract"), get("external_id"), get("kind"), get("name"))
    if record == "remove_service":
        return removal_item(get("contract"), get("external_id"))
    if record == "cancel_contract":
        return cancellation_item(get("external_id"))
    raise InvalidInput("record", f"must be one of {', '.join(RECORDS)}")


def items_from_rows(
    contacts: ContactNormaliser, rows: Iterable[Mapping[str, str | None]], first_row: int
) -> list[Item]:
    """Every row as an item, or InvalidInput naming the first bad row and column."""
    items = []
    for n, row in enumerate(rows, start=first_row):
        try:
            items.append(item_from_row(contacts, row))
        except InvalidInput as exc:
            raise InvalidInput(f"row {n} {exc.field}", exc.message.partition(": ")[2]) from None
    return items
