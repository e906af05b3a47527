"""The outbox: each message a user sent, built and kept until the worker has handed it to SMTP."""

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime, utcnow
from ..extensions import db

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
STATES = (QUEUED, SENDING, SENT, FAILED)

# What the message is for: one the user wrote, or the round trip of "Send a test message to myself".
COMPOSED = "composed"
ROUND_TRIP = "round_trip"


class OutgoingMessage(db.Model):
    """One message on its way out: who sent it, from which mailbox, its MIME bytes and recipients,
    and where it is (queued, sending, sent, failed with the explanation)."""

    __tablename__ = "outgoing_message"
    # The rate limit counts a mailbox's sends in the last minute.
    __table_args__ = (Index("ix_outgoing_message_mailbox_started", "mailbox_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), default=COMPOSED)
    message_id: Mapped[str] = mapped_column(String(300))
    in_reply_to: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(Text, default="")
    recipients: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the last attempt took the message to SMTP: the rate limit's window counts these.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A temporary refusal puts the message back in the queue until then.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last refusal as failures.explain() words it: the reason of a failure, or of a retry to come.
    error_title: Mapped[str | None] = mapped_column(String(300))
    error_cause: Mapped[str | None] = mapped_column(Text)
    error_action: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_server_said: Mapped[str | None] = mapped_column(Text)
    # What happened after SMTP accepted it: the copy in Sent Items, the round trip's arrival.
    note: Mapped[str | None] = mapped_column(Text)
    round_trip_seconds: Mapped[float | None] = mapped_column(Float)
