"""Accounts, their signed-in sessions and failed sign-ins."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import UTCDateTime, utcnow
from ..extensions import db

ROLES = ("admin", "user")
# Not of Werkzeug's "method$salt$hash" form: no password matches it. Stored while an account
# waits for its one-time link, and when an administrator resets its password.
UNUSABLE_PASSWORD_HASH = "!"


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # A deactivated account keeps its data but cannot sign in, and has no open session.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:
        # Flask-Login's login_user refuses an account that is not active.
        return self.active

    def set_password(self, password: str) -> None:
        """Store a hash of `password` (Werkzeug's default method)."""
        self.password_hash = generate_password_hash(password)

    def set_unusable_password(self) -> None:
        """Make every password wrong for this account, until one is set."""
        self.password_hash = UNUSABLE_PASSWORD_HASH

    @property
    def has_password(self) -> bool:
        return self.password_hash != UNUSABLE_PASSWORD_HASH

    def check_password(self, password: str) -> bool:
        """Tell whether `password` is this user's password."""
        return check_password_hash(self.password_hash, password)


class UserSession(db.Model):
    """A browser signed in to an account: while its row exists, and is neither idle nor too old.

    The session cookie carries a random token; the row keeps only its SHA-256, so that what the
    database holds opens no session. Signing out deletes the row.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(255))
    remote_addr: Mapped[str] = mapped_column(String(64))


class PasswordLink(db.Model):
    """A one-time link that sets an account's password, until used, replaced or expired.

    The link carries a random token and the row keeps only its SHA-256, so that what the database
    holds sets no password. An account has at most one: a newer link replaces the older ones.
    """

    __tablename__ = "password_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailure(db.Model):
    """A failed sign-in, kept for a while to slow down password guessing."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_email", "email", "failed_at"),
        Index("ix_login_failure_remote_addr", "remote_addr", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    remote_addr: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
