"""The synced mail of a mailbox: its folders, each raw message stored once, what lists need, threads."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..database import UTCDateTime
from ..extensions import db

# RFC 5322 caps a header line at 998 characters: a Message-ID (or a subject key) longer than that
# is cut, which keeps it a valid index key on every database.
KEY_LENGTH = 998


class MailFolder(db.Model):
    """One synced IMAP folder of a mailbox and the server state its stored messages describe."""

    __tablename__ = "mail_folder"
    __table_args__ = (UniqueConstraint("mailbox_id", "name", name="uq_mail_folder_mailbox_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    # The full name as the server lists it (its own separator, modified UTF-7 decoded or not: the
    # sync engine's choice, kept as given).
    name: Mapped[str] = mapped_column(String(1000))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    # The next UID not yet stored: new mail is fetched from here.
    uidnext: Mapped[int | None] = mapped_column(BigInteger)
    highestmodseq: Mapped[int | None] = mapped_column(BigInteger)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MessageContent(db.Model):
    """A raw message byte for byte, once per mailbox however many folders hold it."""

    __tablename__ = "message_content"
    __table_args__ = (UniqueConstraint("mailbox_id", "sha256", name="uq_message_content_mailbox_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Conversation(db.Model):
    """A thread of messages, with what a list of conversations shows kept on the row."""

    __tablename__ = "conversation"
    __table_args__ = (
        Index("ix_conversation_mailbox_latest", "mailbox_id", "latest_at"),
        Index("ix_conversation_mailbox_subject_key", "mailbox_id", "subject_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    # Without Re:/Fwd:/AW: and the like, as the first message stored gave it.
    subject: Mapped[str] = mapped_column(Text, default="")
    # The subject casefolded, for the fallback that joins a reply without references by subject.
    subject_key: Mapped[str] = mapped_column(String(KEY_LENGTH), default="")
    latest_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Distinct messages: a copy of a message in another folder counts once.
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    # The newest message, whose sender and snippet a list shows. Not a foreign key: messages
    # already point at their conversation, and the store keeps this one up to date.
    latest_message_id: Mapped[int | None] = mapped_column(Integer)


class ThreadKey(db.Model):
    """A Message-ID that a conversation's messages carry or refer to.

    A reply stored before its parent records the parent's Message-ID here, so the parent joins
    the reply's conversation when it arrives; two conversations that come to share a key merge.
    """

    __tablename__ = "thread_key"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )


class Message(db.Model):
    """A message in a folder (by its UID), its stored content and what lists and search need."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("folder_id", "uid", name="uq_message_folder_uid"),
        # Lists read newest first: a B-tree index serves ORDER BY internaldate DESC backwards.
        Index("ix_message_mailbox_folder_internaldate", "mailbox_id", "folder_id", "internaldate"),
        Index("ix_message_mailbox_message_id", "mailbox_id", "message_id"),
        # A conversation's messages in order, and its newest one.
        Index("ix_message_conversation_internaldate", "conversation_id", "internaldate"),
        Index("ix_message_content_id", "content_id"),
        # Search results newest first across a mailbox's folders: read along this index, a word
        # found in most messages stops after a page instead of sorting every match.
        Index("ix_message_mailbox_internaldate", "mailbox_id", "internaldate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    folder_id: Mapped[int] = mapped_column(ForeignKey("mail_folder.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    content_id: Mapped[int] = mapped_column(ForeignKey("message_content.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"))
    # The IMAP flags, sorted and separated by spaces; the three that lists filter on also apart.
    flags: Mapped[str] = mapped_column(Text, default="")
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    internaldate: Mapped[datetime] = mapped_column(UTCDateTime)
    date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    # As the headers read, decoded ("Alex Wilber <alex@contoso.com>, lee@contoso.com"), and the
    # addresses alone, lowercased, for filters and search.
    to_text: Mapped[str] = mapped_column(Text, default="")
    to_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_text: Mapped[str] = mapped_column(Text, default="")
    cc_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    attachment_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    snippet: Mapped[str] = mapped_column(Text, default="")
    # Why the parser could not read the message; it is stored raw and listed all the same.
    parse_error: Mapped[str | None] = mapped_column(String(200))
