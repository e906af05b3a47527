"""Microsoft Settings without HTTP: fields, defaults, validation, atomic saves and their record."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update

from .. import audit
from ..audit.models import SETTINGS
from ..auth.access import SignedInUser
from ..database import utcnow
from ..encryption import UndecryptableError, decrypt, encrypt
from ..extensions import db
from ..microsoft import identifiers
from .models import SETTINGS_ID, SITE_ID, MicrosoftSettings, SiteSettings

CALLBACK_PATH = "/oauth/microsoft/callback"
# A host name, an IPv4 address or a bracketed IPv6 one, and an optional port: no user name, no
# characters that Azure refuses in a Redirect URI.
PUBLIC_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Field:
    """A setting of the page that falls back to a configured default."""

    name: str
    label: str
    default_key: str
    normalize: Callable[[str], str]
    hint: str
    secret: bool = False

    @property
    def default_variable(self) -> str:
        return "OROFLASK_" + self.default_key


FIELDS: dict[str, Field] = {
    field.name: field
    for field in (
        Field(
            "client_id",
            "Application (Client) ID",
            "MICROSOFT_CLIENT_ID",
            identifiers.normalize_client_id,
            "Azure portal › App registrations › your application › Overview › Essentials.",
        ),
        Field(
            "client_secret",
            "Client Secret",
            "MICROSOFT_CLIENT_SECRET",
            identifiers.normalize_client_secret,
            "The secret's Value from Certificates & secrets (not its Secret ID). "
            "Never shown again here; type a new one to replace it.",
            secret=True,
        ),
        Field(
            "tenant",
            "Directory (tenant) ID",
            "MICROSOFT_TENANT",
            identifiers.normalize_tenant,
            "A GUID from Overview › Essentials, a verified domain such as "
            "contoso.onmicrosoft.com, or organizations / common.",
        ),
    )
}

USE_DEFAULT = None
SECRET_EXPIRY = "client_secret_expires_on"
SECRET_EXPIRY_LABEL = "Client secret expires on"


class _Keep:
    """Leave the stored value as it is (a secret input left untouched)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


@dataclass(frozen=True)
class FieldState:
    """What the page shows of one field."""

    field: Field
    uses_default: bool
    default_available: bool
    value: str
    is_set: bool
    warning: str | None = None
    problem: str | None = None
    removable: bool = False  # a saved secret with no default behind it, which Use Default cannot forget


def load() -> MicrosoftSettings:
    """Return the settings row, creating it when missing."""
    settings = db.session.get(MicrosoftSettings, SETTINGS_ID)
    if settings is None:
        settings = MicrosoftSettings(id=SETTINGS_ID)
        db.session.add(settings)
        db.session.flush()
    return settings


def default_value(field: Field) -> str:
    """Return the value configured behind Use Default, normalized; empty when none or invalid."""
    try:
        return _configured_default(field)
    except identifiers.InvalidValue:
        return ""


def default_problem(field: Field) -> str | None:
    """Say what is wrong with the configured default, if anything."""
    try:
        _configured_default(field)
    except identifiers.InvalidValue as error:
        return f"The configured default ({field.default_variable}) is not used: {error}"
    return None


def _configured_default(field: Field) -> str:
    raw = (current_app.config.get(field.default_key) or "").strip()
    return field.normalize(raw) if raw else ""


def stored_value(settings: MicrosoftSettings, field: Field) -> str | None:
    """Return the saved value, None when the field uses its default."""
    value = _column(field, settings)
    return decrypt(value) if field.secret and value is not None else value


def effective_value(settings: MicrosoftSettings, field: Field) -> str:
    """Return the value in force: the saved one, else the default."""
    value = stored_value(settings, field)
    return default_value(field) if value is None else value


def state(settings: MicrosoftSettings, field: Field) -> FieldState:
    """Describe a field for the page; secrets are only ever described as set or not."""
    default = default_value(field)
    try:
        stored = stored_value(settings, field)
    except UndecryptableError:
        return FieldState(
            field,
            uses_default=False,
            default_available=bool(default),
            value="",
            is_set=False,
            removable=not default,
            problem="The saved secret cannot be decrypted with the configured encryption keys "
            "(OROFLASK_ENCRYPTION_KEYS or instance/encryption.keys changed). Enter it again.",
        )
    value = default if stored is None else stored
    return FieldState(
        field,
        uses_default=stored is None and bool(default),
        default_available=bool(default),
        value="" if field.secret else value,
        is_set=bool(value),
        warning=_secret_warning(value) if field.secret and value else None,
        problem=default_problem(field) if stored is None else None,
        removable=field.secret and stored is not None and not default,
    )


def _secret_warning(value: str) -> str | None:
    if identifiers.looks_like_secret_id(value):
        return (
            "This looks like the secret's Secret ID, not its Value. In Azure, open Certificates "
            "& secrets and copy the Value column (shown only right after the secret is created)."
        )
    if identifiers.looks_too_short_for_a_secret(value):
        return (
            "This looks too short for a client secret Value: Azure's are about 40 characters. "
            "In Azure, open Certificates & secrets and copy the whole Value column (shown only "
            "right after the secret is created)."
        )
    return None


def values_after(settings: MicrosoftSettings, changes: Mapping[str, object]) -> dict[str, str]:
    """Return the value in force of every field once `changes` are applied (without saving them).

    A secret that cannot be decrypted counts as empty.
    """
    values = {}
    for name, field in FIELDS.items():
        change = changes.get(name, KEEP)
        if change is KEEP:
            try:
                values[name] = effective_value(settings, field)
            except UndecryptableError:
                values[name] = ""
        else:
            values[name] = default_value(field) if change is USE_DEFAULT else change
    return values


def missing_for_enable(settings: MicrosoftSettings) -> list[str]:
    """Return the labels of the fields that still need a value before Enable can run."""
    return [FIELDS[name].label for name, value in values_after(settings, {}).items() if not value]


@dataclass(frozen=True)
class PublicAddress:
    """The address users reach the app at, and where it comes from."""

    url: str
    configured: bool = False
    pinned_at: datetime | None = None


def public_address(request_root: str) -> PublicAddress:
    """Return the address users reach the app at: OROFLASK_PUBLIC_URL, else the pinned one.

    Only while nothing is pinned (see pin_public_address) is it `request_root`, the scheme://host
    of this request.
    """
    configured = current_app.config["PUBLIC_URL"]
    if configured:
        return PublicAddress(configured, configured=True)
    site = _site()
    if site.public_url is None:
        return PublicAddress(request_root.rstrip("/"))
    return PublicAddress(site.public_url, pinned_at=site.public_url_pinned_at)


def pin_public_address(request_root: str) -> None:
    """Pin `request_root` as the public address when none is pinned yet, whatever Host later
    requests name; a root that is no address check_public_url accepts pins nothing."""
    try:
        url = check_public_url(request_root)
    except ValueError:
        return
    # Only if nothing is pinned yet: of two workers pinning at once, the first one wins.
    pinned = db.session.execute(
        update(SiteSettings)
        .where(SiteSettings.id == SITE_ID, SiteSettings.public_url.is_(None))
        .values(public_url=url, public_url_pinned_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if pinned:
        current_app.logger.info("Pinned the public address %s (the Redirect URI is built on it)", url)


def redirect_uri(request_root: str) -> str:
    """Return the Redirect URI to register in Azure, at the public address (see public_address)."""
    return public_address(request_root).url + CALLBACK_PATH


def check_public_url(value: str) -> str:
    """Return `value` as scheme://host[:port], or raise ValueError saying what is accepted."""
    parts = urlsplit(value.strip())
    host = PUBLIC_HOST.fullmatch(parts.netloc)
    if (
        parts.scheme not in ("http", "https")
        or host is None
        or int(host["port"] or 1) not in range(1, 65536)
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"The public address is http:// or https:// with a host name and, if needed, a port "
            f"(such as https://mail.example.com), without a path or a query, not {value.strip()[:100]!r}"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def set_public_url(url: str) -> str:
    """Pin `url` as the public address in place of the one pinned; return it as stored.

    Raises ValueError when `url` is not an address check_public_url accepts.
    """
    site = _site()
    site.public_url = check_public_url(url)
    site.public_url_pinned_at = utcnow()
    db.session.commit()
    current_app.logger.info("The public address is now %s", site.public_url)
    return site.public_url


def _site() -> SiteSettings:
    return db.session.execute(
        select(SiteSettings).where(SiteSettings.id == SITE_ID).execution_options(populate_existing=True)
    ).scalar_one()


def save(
    changes: Mapping[str, object], user: SignedInUser, secret_expires_on: object = KEEP
) -> list[str]:
    """Apply every change at once and record it; return the names of the fields that changed.

    A change is a normalized value, USE_DEFAULT or KEEP; `secret_expires_on` is a date, None
    or KEEP. Values are validated by the caller (the form); nothing is committed unless every
    change was applied.
    """
    settings = load()
    changed = []
    try:
        for name, change in changes.items():
            if _apply(settings, FIELDS[name], change, user):
                changed.append(name)
        if secret_expires_on is not KEEP and secret_expires_on != settings.client_secret_expires_on:
            settings.client_secret_expires_on = secret_expires_on
            _record(
                user,
                SECRET_EXPIRY,
                f"set to {secret_expires_on.isoformat()}" if secret_expires_on else "cleared",
            )
            changed.append(SECRET_EXPIRY)
        if changed:
            settings.updated_at = utcnow()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return changed


def _apply(settings: MicrosoftSettings, field: Field, change: object, user: SignedInUser) -> bool:
    if change is KEEP:
        return False
    try:
        current = stored_value(settings, field)
    except UndecryptableError:
        current = KEEP
    if change == current:
        return False
    if field.secret:
        settings.client_secret_encrypted = None if change is USE_DEFAULT else encrypt(change)
    else:
        setattr(settings, field.name, change)
    if change is USE_DEFAULT:
        description = "reset to default"
    elif field.secret:
        description = "changed"
    else:
        description = f"set to {change}"
    _record(user, field.name, description)
    return True


def remove_client_secret(user: SignedInUser) -> bool:
    """Forget the saved client secret and record it; tell whether there was one."""
    settings = load()
    if settings.client_secret_encrypted is None:
        return False
    settings.client_secret_encrypted = None
    settings.updated_at = utcnow()
    _record(user, FIELDS["client_secret"].name, "removed")
    db.session.commit()
    return True


def _record(user: SignedInUser, name: str, description: str) -> None:
    audit.record(user, SETTINGS, name, description)


def recorded_label(name: str) -> str:
    """Return the label of the setting the audit log recorded as `name` (its key)."""
    if name == SECRET_EXPIRY:
        return SECRET_EXPIRY_LABEL
    return FIELDS[name].label if name in FIELDS else name


audit.name_subjects(SETTINGS, recorded_label)


def set_use_default(field: Field, on: bool, user: SignedInUser) -> bool:
    """Turn Use Default on (forget the saved value) or off (keep the default as a saved value)."""
    settings = load()
    if on:
        change = USE_DEFAULT
    elif _column(field, settings) is None:
        change = default_value(field) or USE_DEFAULT
    else:
        change = KEEP
    return bool(save({field.name: change}, user))


def _column(field: Field, settings: MicrosoftSettings) -> str | None:
    return getattr(settings, "client_secret_encrypted" if field.secret else field.name)
