"""Validate what a person typed as an e-mail address or phone number, and write it canonically.

The result is the canonical form of `entrusted.domain.contacts` (checked again on the way
out), which is what the registry encrypts and what the blind index hashes, so "Alice@Example.COM
" at signup and "alice@example.com" on the phone to support find the same customer. This
lives in adapters because it needs two libraries' tables: email-validator for the address
grammar and IDNA, phonenumbers for the world's numbering plans.

email-validator runs with `check_deliverability=False`: its deliverability check is a DNS
query, and Entrusted must work (and its tests pass) with no network. It also runs with
`allow_smtputf8=False`: an address whose local part is not ASCII needs SMTPUTF8 end to end,
which our relay path does not promise, and a contact address we cannot deliver a one-time code
to cannot identify anyone.

>>> normalise_email("Alice@Example.COM ")
'alice@example.com'
>>> normalise_phone("044 000 00 00")
'+41440000000'
"""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from entrusted.domain.contacts import canonical_email, canonical_phone
from entrusted.errors import InvalidInput

_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def normalise_email(value: str, field: str = "email") -> str:
    """`value` as a canonical address: lower case, ASCII, the domain in IDNA form.

    InvalidInput naming `field` if it is not a syntactically valid address. The library's
    reasons name at most an offending character, never the address, so they are passed on.
    """
    try:
        info = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidInput(field, str(exc)) from None
    # The local part is case-sensitive in RFC 5321 but not at any provider a customer will
    # use; folding it is what lets a search typed in another case find the holder.
    return canonical_email(f"{info.local_part}@{info.ascii_domain}", field)


def normalise_phone(
    value: str, default_region: str = "CH", *, field: str = "phone", mobile: bool = False
) -> str:
    """`value` in E.164 form, read in `default_region` unless it starts with + or 00.

    InvalidInput naming `field` if it is not a valid number for its country, if it carries an
    extension (E.164 has no place for one, and dropping it would store a different number),
    or, with `mobile=True`, if it cannot receive SMS codes because it is a fixed line.
    """
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput("default region", f"{default_region!r} is not an ISO 3166 region")
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(field, "is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(field, "is not a valid phone number for its country")
    if number.extension:
        raise InvalidInput(field, "has an extension; give the direct number")
    if mobile and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidInput(field, "is not a mobile number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return canonical_phone(e164, field)


class Contacts:
    """The `ContactNormaliser` port over `normalise_email` and `normalise_phone`; national
    numbers are read in `default_region` (a Swiss provider's customers type Swiss numbers)."""

    def __init__(self, default_region: str = "CH") -> None:
        self._region = default_region

    def email(self, value: str, field: str) -> str:
        return normalise_email(value, field)

    def phone(self, value: str, field: str, mobile: bool) -> str:
        return normalise_phone(value, self._region, field=field, mobile=mobile)
