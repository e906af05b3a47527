"""Mailboxes: a user's own (personal) or the site's (system), each opened with a Microsoft grant."""

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

PERSONAL = "personal"
# Shared and team mailboxes that admins connect and grant to users and roles (not built yet).
SYSTEM = "system"
KINDS = (PERSONAL, SYSTEM)

# The outcome of the last Check connection.
CHECK_PASSED = "passed"
CHECK_FAILED = "failed"


class Mailbox(db.Model):
    """One mailbox, the grant that opens it, the folders chosen for sync and its last check.

    A personal mailbox has an owner, one per user. `grant_id` empty on a connected mailbox
    means the grant it used was deleted (the site's connection it shared was disabled).
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
    # Full folder names as the server lists them; None until the owner first saves a choice.
    folders: Mapped[list[str] | None] = mapped_column(JSON)
    # The oldest day of mail to sync; None with folders chosen: everything.
    sync_from: Mapped[date | None] = mapped_column(Date)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_outcome: Mapped[str | None] = mapped_column(String(16))
    # The folders the last passed check listed, as the folder chooser shows them.
    listed_folders: Mapped[list[dict] | None] = mapped_column(JSON)
