"""Each mailbox's sync state: the last success, the last error explained, the progress of a run."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import db


class MailboxSync(db.Model):
    """One mailbox's sync: when it last ran and succeeded, why it last failed, how far a run is."""

    __tablename__ = "mailbox_sync"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"), primary_key=True)
    running: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written by a running pass at every stored batch and folder: a lock whose pass stopped
    # beating long ago was left by a worker that died, and is taken over.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Messages downloaded so far in the running (or last) pass, and those it found to download.
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    # The last failure as failures.explain() words it; cleared by a success.
    error_title: Mapped[str | None] = mapped_column(String(300))
    error_cause: Mapped[str | None] = mapped_column(Text)
    error_action: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_server_said: Mapped[str | None] = mapped_column(Text)
    reconnect_needed: Mapped[bool] = mapped_column(Boolean, default=False)
