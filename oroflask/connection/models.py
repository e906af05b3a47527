"""The stored Microsoft connection (tokens encrypted) and the authorization attempts that make it."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

CONNECTION_ID = 1

PENDING = "pending"
REDEEMING = "redeeming"
SUCCEEDED = "succeeded"
FAILED = "failed"
CLOSED = "closed"
TERMINAL = (SUCCEEDED, FAILED, CLOSED)


class MicrosoftConnection(db.Model):
    """The application's authorization with Microsoft; `reconnect_reason` set means it is dead."""

    __tablename__ = "microsoft_connection"

    id: Mapped[int] = mapped_column(primary_key=True)
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
    """One click on Enable: pending until Microsoft's answer reaches the callback, or it expires."""

    __tablename__ = "authorization_attempt"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
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
