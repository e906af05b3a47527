"""The record of changes: settings, the Microsoft connection, accounts and refused sign-ins."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

# The areas a change belongs to, with the name the audit log shows for each.
SETTINGS = "settings"
CONNECTION = "connection"
ACCOUNTS = "accounts"
SIGN_IN = "sign-in"
AREAS = {
    SETTINGS: "Microsoft Settings",
    CONNECTION: "Microsoft connection",
    ACCOUNTS: "Accounts",
    SIGN_IN: "Sign-in",
}


class AuditEvent(db.Model):
    """One recorded change: who made it, in which area, to what; a secret only as "changed".

    `actor_email` is kept beside `actor_id` so that the record outlives the account; both are
    empty for what nobody signed in did (failed sign-ins).
    """

    __tablename__ = "audit_event"
    # By account and id: one account's events newest first, a page at a time, and the list of
    # accounts for the log's filter.
    __table_args__ = (
        Index("ix_audit_event_area_at", "area", "at"),
        Index("ix_audit_event_actor_email_id", "actor_email", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str] = mapped_column(String(254), default="")
    area: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(254))
    change: Mapped[str] = mapped_column(String(300))
