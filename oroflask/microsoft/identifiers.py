"""The shapes of the values an Azure application registration is made of."""

import re
import unicodedata

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TENANT_KEYWORDS = ("organizations", "common")
GUID_EXAMPLE = "00001111-aaaa-2222-bbbb-3333cccc4444"
MAX_SECRET_LENGTH = 256
# Azure's client secret Values are 40 characters; anything much shorter was cut off or is not one.
PLAUSIBLE_SECRET_LENGTH = 30


class InvalidValue(ValueError):
    """A value does not have the shape Microsoft gives it; the message says what is accepted."""


def clean_text(value: str, max_length: int) -> str:
    """Return `value` without surrounding spaces, refusing control characters and over-long text."""
    value = value.strip()
    if "\ufffd" in value:
        raise InvalidValue("This contains characters that are not valid text (not UTF-8).")
    if any(unicodedata.category(character) in ("Cc", "Cf") for character in value):
        raise InvalidValue("This contains control characters; paste the value again.")
    if len(value) > max_length:
        raise InvalidValue(f"This is too long: at most {max_length} characters.")
    return value


def is_guid(value: str) -> bool:
    """Tell whether `value` is a GUID, in any case."""
    return bool(GUID.match(value.strip().lower()))


def normalize_client_id(value: str) -> str:
    """Return the Application (client) ID in lower case, or raise InvalidValue."""
    value = clean_text(value, 64).lower()
    if not GUID.match(value):
        raise InvalidValue(
            f"The Application (Client) ID is a GUID such as {GUID_EXAMPLE}: copy it from "
            "Azure portal > App registrations > your application > Overview."
        )
    return value


def normalize_tenant(value: str) -> str:
    """Return the Directory (tenant) ID in lower case, or raise InvalidValue."""
    value = clean_text(value, 255).lower()
    if GUID.match(value) or value in TENANT_KEYWORDS or _is_domain(value):
        return value
    if value == "consumers":
        raise InvalidValue(
            "'consumers' is for personal Microsoft accounts, which have no Office 365 mail: "
            "enter your Directory (tenant) ID."
        )
    raise InvalidValue(
        f"Enter the Directory (tenant) ID (a GUID such as {GUID_EXAMPLE}), a verified domain "
        "such as contoso.onmicrosoft.com, or 'organizations' / 'common'."
    )


def normalize_client_secret(value: str) -> str:
    """Return the client secret's Value as pasted, or raise InvalidValue."""
    value = clean_text(value, MAX_SECRET_LENGTH)
    if any(character.isspace() for character in value):
        raise InvalidValue("A client secret has no spaces: paste the secret's Value again.")
    return value


def looks_like_secret_id(value: str) -> bool:
    """Tell whether a client secret is shaped like Azure's Secret ID (a GUID) rather than its Value."""
    return is_guid(value)


def looks_too_short_for_a_secret(value: str) -> bool:
    """Tell whether a client secret is shorter than any Value Azure makes."""
    return len(value) < PLAUSIBLE_SECRET_LENGTH


def _is_domain(value: str) -> bool:
    labels = value.split(".")
    return (
        len(labels) >= 2
        and len(value) <= 253
        and all(DOMAIN_LABEL.match(label) for label in labels)
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
    )
