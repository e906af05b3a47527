"""Mailboxes: a user's own (personal) or the site's (system), each opened with a Microsoft grant."""

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

PERSONAL = "personal"
# Shared and team mailboxes that admins connect and give to users and roles to read.
SYSTEM = "system"
KINDS = (PERSONAL, SYSTEM)

# The state of the last Check connection: queued for the worker (or running), then its outcome.
CHECK_RUNNING = "running"
CHECK_PASSED = "passed"
CHECK_FAILED = "failed"


class Mailbox(db.Model):
    """One mailbox, the grant that opens it, the folders chosen for sync and its last check.

    A personal mailbox has an owner, one per user; a system mailbox has none, and the readers
    that admins chose. `grant_id` empty means the mailbox is not connected yet (a system one just
    added) or that the grant it used was deleted: `grant_ended_reason` then says why, when known.
    """

    __tablename__ = "mailbox"
    __table_args__ = (
        Index(
            "ix_mailbox_one_personal",
            "owner_id",
            unique=True,
            sqlite_where=text(f"kind = '{PERSONAL}'"),
            postgresql_where=text(f"kind = '{PERSONAL}'"),
        ),
        # Addresses are stored in lower case, so that this is unique whatever case was typed.
        Index(
            "ix_mailbox_one_system_address",
            "address",
            unique=True,
            sqlite_where=text(f"kind = '{SYSTEM}'"),
            postgresql_where=text(f"kind = '{SYSTEM}'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    label: Mapped[str] = mapped_column(String(100))
    grant_id: Mapped[int | None] = mapped_column(
        ForeignKey("microsoft_grant.id", ondelete="SET NULL"), index=True
    )
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    grant_ended_reason: Mapped[str | None] = mapped_column(String(500))
    # The newest Microsoft sign-in started for this mailbox: its completion finds the mailbox by it.
    sign_in_attempt_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("authorization_attempt.id", ondelete="SET NULL"), index=True
    )
    # Full folder names as the server lists them; None until the owner first saves a choice.
    folders: Mapped[list[str] | None] = mapped_column(JSON)
    # The oldest day of mail to sync; None with folders chosen: everything.
    sync_from: Mapped[date | None] = mapped_column(Date)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # running, passed or failed; `check_results` holds what each protocol answered.
    check_outcome: Mapped[str | None] = mapped_column(String(16))
    check_results: Mapped[dict | None] = mapped_column(JSON)
    # The folders the last passed check listed, as the folder chooser shows them.
    listed_folders: Mapped[list[dict] | None] = mapped_column(JSON)


class MailboxReader(db.Model):
    """Who may read a system mailbox: one user, or everyone with one role."""

    __tablename__ = "mailbox_reader"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "user_id", name="uq_mailbox_reader_user"),
        UniqueConstraint("mailbox_id", "role", name="uq_mailbox_reader_role"),
        CheckConstraint("(user_id IS NULL) <> (role IS NULL)", name="ck_mailbox_reader_user_or_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str | None] = mapped_column(String(16), index=True)
