"""The Microsoft grants (tokens encrypted) and the authorization attempts that make them."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

# What a grant, and the attempt that makes it, is for: the site's connection made by Enable on
# Microsoft Settings (one at most), or a mailbox's own.
SITE = "site"
MAILBOX = "mailbox"
PURPOSES = (SITE, MAILBOX)

PENDING = "pending"
REDEEMING = "redeeming"
SUCCEEDED = "succeeded"
FAILED = "failed"
CLOSED = "closed"
TERMINAL = (SUCCEEDED, FAILED, CLOSED)


class MicrosoftGrant(db.Model):
    """One authorization with Microsoft and its tokens; `reconnect_reason` set means it is dead."""

    __tablename__ = "microsoft_grant"
    __table_args__ = (
        Index(
            "ix_microsoft_grant_one_site",
            "purpose",
            unique=True,
            sqlite_where=text(f"purpose = '{SITE}'"),
            postgresql_where=text(f"purpose = '{SITE}'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    # Who signed in with Microsoft for it; the grant outlives the account.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    account: Mapped[str] = mapped_column(String(254))
    client_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[str] = mapped_column(String(36))
    object_id: Mapped[str | None] = mapped_column(String(36))
    scopes: Mapped[str] = mapped_column(Text)
    access_token_encrypted: Mapped[str] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reconnect_reason: Mapped[str | None] = mapped_column(String(500))
    refresh_lease_owner: Mapped[str | None] = mapped_column(String(32))
    refresh_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthorizationAttempt(db.Model):
    """One sign-in with Microsoft for a grant (a click on Enable): pending until Microsoft's
    answer reaches the callback, or it expires."""

    __tablename__ = "authorization_attempt"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), default=SITE)
    # The grant that the sign-in renews, when there is one already.
    grant_id: Mapped[int | None] = mapped_column(
        ForeignKey("microsoft_grant.id", ondelete="SET NULL"), index=True
    )
    # The account the sign-in must be made with (a reconnect of a mailbox); empty: any account.
    expected_account: Mapped[str | None] = mapped_column(String(254))
    state_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str] = mapped_column(String(512))
    same_window: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    account: Mapped[str | None] = mapped_column(String(254))
    error_title: Mapped[str | None] = mapped_column(String(200))
    error_action: Mapped[str | None] = mapped_column(String(700))
    error_code: Mapped[str | None] = mapped_column(String(40))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    missing_scopes: Mapped[str | None] = mapped_column(Text)
    # What redeems Microsoft's answer, kept here until then rather than in the session cookie,
    # which is signed but readable.
    code_verifier_encrypted: Mapped[str | None] = mapped_column(Text)
    nonce_encrypted: Mapped[str | None] = mapped_column(Text)
