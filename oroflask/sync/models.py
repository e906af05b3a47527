"""Each mailbox's sync state: the last success, the last error explained, the progress of a run."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
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
    # When someone last clicked Sync now: the page waits for a pass that started after it.
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker whose IDLE watcher holds the mailbox's push, until the lease runs out unrenewed:
    # with workers on several machines, each mailbox is watched by one of them.
    push_owner: Mapped[str | None] = mapped_column(String(64))
    push_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether that watcher is in IDLE on the Inbox right now (push on), for the health panel.
    push_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
