"""Read and flag changes made here that the worker has not yet written back to the server."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import db


class FlagChange(db.Model):
    """A flag a user set or cleared on a message, until the server has it too.

    The write-back applies it again after storing it on the server, so a sync that read the
    server's flags in between and undid it locally is corrected.
    """

    __tablename__ = "mail_flag_change"

    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), primary_key=True)
    # An IMAP system flag: \Seen or \Flagged.
    flag: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bool] = mapped_column(Boolean)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"), index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
