"""The Microsoft application registration as saved, and the site's own settings."""

from datetime import date, datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

SETTINGS_ID = 1
SITE_ID = 1


class MicrosoftSettings(db.Model):
    """The one row of Microsoft Settings; a NULL column means "Use Default"."""

    __tablename__ = "microsoft_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(36))
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    tenant: Mapped[str | None] = mapped_column(String(255))
    client_secret_expires_on: Mapped[date | None]
    emails_sync_enabled: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SiteSettings(db.Model):
    """The one row of the site's own settings: the public address it is reached at.

    Pinned when the first administrator signs in, so that no Host header can change the
    Redirect URI afterwards; OROFLASK_PUBLIC_URL overrides it.
    """

    __tablename__ = "site_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_url: Mapped[str | None] = mapped_column(String(255))
    public_url_pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
