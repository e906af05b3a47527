"""What the mail pages read and change: conversations, search, a conversation's messages, flags.

Every query is limited to the mailboxes the user may read (`readable_mailboxes`): a message of
another mailbox is not found, as if it did not exist.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from markupsafe import Markup, escape
from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from ..auth.access import SignedInUser
from ..database import utcnow
from ..extensions import db
from ..mailboxes.models import PERSONAL, Mailbox
from ..mailboxes.system_service import readable_mailboxes
from ..mailstore import search, store
from ..mailstore.models import Conversation, MailFolder, Message, MessageContent
from .models import FlagChange

PAGE_SIZE = 50
SEEN, FLAGGED = "\\Seen", "\\Flagged"


@dataclass(frozen=True)
class Place:
    """A mailbox the user may read, and its synced folders."""

    mailbox: Mailbox
    folders: list[MailFolder]


@dataclass(frozen=True)
class Row:
    """A line of the list: a conversation, or in search results the message found."""

    conversation: Conversation
    message: Message | None
    mailbox_label: str


@dataclass(frozen=True)
class Page:
    """A page of the list and the key of the next one (None at the end)."""

    rows: list[Row]
    after: str | None


def places(user: SignedInUser) -> list[Place]:
    """Return the mailboxes the user may read, each with its synced folders."""
    mailboxes = db.session.execute(
        select(Mailbox).where(Mailbox.id.in_(readable_mailboxes(user))).order_by(Mailbox.kind, Mailbox.label)
    ).scalars().all()
    folders = db.session.execute(
        select(MailFolder)
        .where(MailFolder.mailbox_id.in_([mailbox.id for mailbox in mailboxes]))
        .order_by(MailFolder.name)
    ).scalars().all()
    return [Place(mailbox, [folder for folder in folders if folder.mailbox_id == mailbox.id]) for mailbox in mailboxes]


def readable_ids(user: SignedInUser) -> list[int]:
    """Return the ids of the mailboxes the user may read.

    Read first, then written into the list's query as values: the planner then walks the index
    of each mailbox's conversations by date instead of sorting all of them.
    """
    return list(db.session.execute(readable_mailboxes(user)).scalars())


def mailbox_page(mailbox: Mailbox, user: SignedInUser) -> str | None:
    """Return the endpoint of the mailbox's own page that this user may open, or None."""
    if mailbox.kind == PERSONAL:
        return "mailboxes.show"
    return "mailboxes.system_show" if user.is_admin else None


def conversations(
    user: SignedInUser, mailbox_id: int | None = None, folder_id: int | None = None, after: str | None = None
) -> Page:
    """Return a page of conversations, newest first, after the key `after` of the page before."""
    return _page(
        _conversations(user, mailbox_id, folder_id), _conversation_rows(), Conversation.latest_at, Conversation.id, after
    )


def conversations_since(
    user: SignedInUser, since: str | None, mailbox_id: int | None = None, folder_id: int | None = None
) -> Page:
    """Return the conversations that moved above the key `since` (new mail), newest first, a page at most.

    `after` is set when there are more than a page of them: the list is then shown afresh.
    """
    matching = _conversations(user, mailbox_id, folder_id)
    key = _key(since)
    if key is not None:
        matching = matching.where(
            or_(Conversation.latest_at > key[0], and_(Conversation.latest_at == key[0], Conversation.id > key[1]))
        )
    return _page(matching, _conversation_rows(), Conversation.latest_at, Conversation.id, None)


def top_key(page: Page) -> str | None:
    """Return the key of the page's first conversation: what the list's poll asks to be newer than."""
    if not page.rows:
        return None
    return _key_of(page.rows[0].conversation.latest_at, page.rows[0].conversation.id)


def _conversations(user: SignedInUser, mailbox_id: int | None, folder_id: int | None) -> Select:
    """Select the ids of the conversations of the list."""
    query = select(Conversation.id).where(Conversation.mailbox_id.in_(readable_ids(user)))
    if mailbox_id is not None:
        query = query.where(Conversation.mailbox_id == mailbox_id)
    if folder_id is not None:
        in_folder = aliased(Message)
        query = query.where(
            exists().where(in_folder.conversation_id == Conversation.id, in_folder.folder_id == folder_id)
        )
    return query


def _conversation_rows() -> Select:
    return (
        select(Conversation, Message, Mailbox.label)
        .join(Mailbox, Mailbox.id == Conversation.mailbox_id)
        .outerjoin(Message, Message.id == Conversation.latest_message_id)
    )


def find(
    user: SignedInUser,
    query: str,
    mailbox_id: int | None = None,
    folder_id: int | None = None,
    after: str | None = None,
) -> Page:
    """Return a page of the messages that match the user's query, newest first."""
    terms = search.parse_query(query)
    if not terms:
        return Page([], None)
    matching = select(Message.id).where(Message.mailbox_id.in_(readable_ids(user)), search.matches(terms))
    if mailbox_id is not None:
        matching = matching.where(Message.mailbox_id == mailbox_id)
    if folder_id is not None:
        matching = matching.where(Message.folder_id == folder_id)
    rows = (
        select(Conversation, Message, Mailbox.label)
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Mailbox, Mailbox.id == Message.mailbox_id)
    )
    return _page(matching, rows, Message.internaldate, Message.id, after)


def highlight(value: str, query: str) -> Markup:
    """Return the text escaped, with the words of the query (as prefixes) marked."""
    found = sorted({word for term in search.parse_query(query) for word in term.words}, key=len, reverse=True)
    if not found or not value:
        return escape(value)
    pattern = re.compile(r"(?<![^\W_])(" + "|".join(re.escape(word) for word in found) + ")", re.IGNORECASE)
    pieces, last = [], 0
    for match in pattern.finditer(value):
        pieces.append(escape(value[last : match.start()]))
        pieces.append(Markup("<mark>%s</mark>") % match.group(0))
        last = match.end()
    pieces.append(escape(value[last:]))
    return Markup("").join(pieces)


def readable_mailbox(user: SignedInUser, mailbox_id: int) -> Mailbox | None:
    """Return the mailbox if the user may read it."""
    return db.session.execute(
        select(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.id.in_(readable_mailboxes(user)))
    ).scalar_one_or_none()


def conversation(user: SignedInUser, conversation_id: int) -> Conversation | None:
    """Return the conversation if it is in a mailbox the user may read."""
    return db.session.execute(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.mailbox_id.in_(readable_mailboxes(user))
        )
    ).scalar_one_or_none()


def messages_of(conversation: Conversation) -> list[Message]:
    """Return the conversation's messages in order, a copy kept in several folders once."""
    rows = db.session.execute(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.internaldate, Message.id)
    ).scalars()
    seen_contents: set[int] = set()
    ordered = []
    for message in rows:
        if message.content_id not in seen_contents:
            seen_contents.add(message.content_id)
            ordered.append(message)
    return ordered


def message(user: SignedInUser, message_id: int) -> Message | None:
    """Return the message if it is in a mailbox the user may read."""
    return db.session.execute(
        select(Message).where(Message.id == message_id, Message.mailbox_id.in_(readable_mailboxes(user)))
    ).scalar_one_or_none()


def raw(message: Message) -> bytes:
    """Return the message's bytes as the server gave them."""
    return db.session.execute(
        select(MessageContent.raw).where(MessageContent.id == message.content_id)
    ).scalar_one()


def raws(messages: list[Message]) -> dict[int, bytes]:
    """Return the bytes of these messages by message id, read in one query."""
    contents = dict(
        db.session.execute(
            select(MessageContent.id, MessageContent.raw).where(
                MessageContent.id.in_({message.content_id for message in messages})
            )
        ).all()
    )
    return {message.id: contents[message.content_id] for message in messages}


def set_flag(messages: list[Message], flag: str, value: bool) -> list[int]:
    """Set or clear a flag on these messages and every copy of them, now, and record it for the write-back.

    Return the ids of the mailboxes whose server needs the change.
    """
    copies = db.session.execute(
        select(Message).where(
            Message.content_id.in_([message.content_id for message in messages]),
            Message.mailbox_id.in_({message.mailbox_id for message in messages}),
        )
    ).scalars().all()
    changed = [copy for copy in copies if (flag in copy.flags.split()) != value]
    by_folder: dict[int, dict[int, set[str]]] = {}
    now = utcnow()
    for copy in changed:
        flags = set(copy.flags.split())
        flags.symmetric_difference_update({flag})
        by_folder.setdefault(copy.folder_id, {})[copy.uid] = flags
        pending = db.session.get(FlagChange, (copy.id, flag))
        if pending is None:
            db.session.add(
                FlagChange(message_id=copy.id, flag=flag, value=value, mailbox_id=copy.mailbox_id, changed_at=now)
            )
        else:
            pending.value, pending.changed_at = value, now
    for folder_id, flags in by_folder.items():
        store.set_flags(db.session.get(MailFolder, folder_id), flags)
    db.session.commit()
    for copy in changed:
        db.session.refresh(copy)
    return sorted({copy.mailbox_id for copy in changed})


def _page(
    matching: Select, rows: Select, moment: InstrumentedAttribute, row_id: InstrumentedAttribute, after: str | None
) -> Page:
    """Return the page after the key `after` of the rows whose ids `matching` selects, newest first by (moment, id).

    The page's ids are chosen first, on their own table; only then are their rows joined: a search
    that matches most messages sorts two columns, not whole rows with their conversation.
    """
    key = _key(after)
    if key is not None:
        matching = matching.where(or_(moment < key[0], and_(moment == key[0], row_id < key[1])))
    ids = matching.order_by(moment.desc(), row_id.desc()).limit(PAGE_SIZE + 1)
    found = db.session.execute(
        rows.add_columns(moment, row_id).where(row_id.in_(ids)).order_by(moment.desc(), row_id.desc())
    ).all()
    page = [Row(conversation, message, label) for conversation, message, label, _, _ in found[:PAGE_SIZE]]
    if len(found) <= PAGE_SIZE:
        return Page(page, None)
    *_, last_moment, last_id = found[PAGE_SIZE - 1]
    return Page(page, _key_of(last_moment, last_id))


def _key_of(moment: datetime, row_id: int) -> str:
    return f"{moment.isoformat()}~{row_id}"


def _key(after: str | None) -> tuple[datetime, int] | None:
    """Read a page key; a key a user edited into nonsense starts from the top."""
    if not after:
        return None
    moment, _, row_id = after.rpartition("~")
    try:
        when, number = datetime.fromisoformat(moment), int(row_id)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)), number
