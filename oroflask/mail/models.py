"""Read and flag changes made here that the worker has not yet written back to the server."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import db


class FlagChange(db.Model):
    """A flag a user set or cleared on a message, until the server has it too.

    The write-back applies it again after storing it on the server, so a sync that read the
    server's flags in between and undid it locally is corrected. It stays while the server cannot
    be reached, tried again later and later (`attempts`, `next_try_at`); it goes only once written,
    or when the server says the message's folder is gone.
    """

    __tablename__ = "mail_flag_change"

    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), primary_key=True)
    # An IMAP system flag: \Seen or \Flagged.
    flag: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bool] = mapped_column(Boolean)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"), index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Write-backs that failed since the change was made, and when the next one may run.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
