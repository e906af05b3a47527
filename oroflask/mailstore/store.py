"""Store synced mail: folders, messages added in bulk, flags, removals, UIDVALIDITY re-mapping.

Every function runs in the caller's session and never commits: the sync engine commits each batch
together with the folder state (uidnext, uidvalidity) that describes it, so a crash loses nothing
and stores nothing twice.
"""

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from sqlalchemy import delete, distinct, exists, func, insert, select, update

from ..extensions import db
from . import parse
from .models import KEY_LENGTH, Conversation, MailFolder, Message, MessageContent, ThreadKey

# Bulk inserts write None as NULL: otherwise the ORM leaves those columns out and splits a batch
# into one statement per pattern of missing values (a missing Date, Message-ID, In-Reply-To...).
BULK = {"render_nulls": True}
# Bound parameters per IN (...) list: well under SQLite's 32,766 and PostgreSQL's 65,535.
IN_CHUNK = 5000


class FetchedLike(Protocol):
    """A message as the IMAP side fetched it."""

    @property
    def uid(self) -> int: ...

    @property
    def flags(self) -> Iterable[str]: ...

    @property
    def internaldate(self) -> datetime: ...

    @property
    def size(self) -> int: ...

    @property
    def raw(self) -> bytes: ...


def folder(mailbox_id: int, name: str) -> MailFolder:
    """Return the mailbox's folder of this name, created (and flushed) if it is new."""
    found = db.session.execute(
        select(MailFolder).where(MailFolder.mailbox_id == mailbox_id, MailFolder.name == name)
    ).scalar_one_or_none()
    if found is None:
        found = MailFolder(mailbox_id=mailbox_id, name=name, message_count=0)
        db.session.add(found)
        db.session.flush()
    return found


def stored_uids(folder: MailFolder, *, since: int | None = None) -> set[int]:
    """Return the UIDs stored in the folder (those from `since` up, if given)."""
    query = select(Message.uid).where(Message.folder_id == folder.id)
    if since is not None:
        query = query.where(Message.uid >= since)
    return set(db.session.execute(query).scalars())


def stored_flags(folder: MailFolder) -> dict[int, frozenset[str]]:
    """Return each stored UID's flags."""
    rows = db.session.execute(select(Message.uid, Message.flags).where(Message.folder_id == folder.id))
    # Most messages share a handful of flag sets: each is split once.
    parsed: dict[str, frozenset[str]] = {}
    stored = {}
    for uid, flags in rows:
        value = parsed.get(flags)
        if value is None:
            value = parsed[flags] = frozenset(flags.split())
        stored[uid] = value
    return stored


def add_messages(folder: MailFolder, messages: Iterable[FetchedLike]) -> int:
    """Parse, dedupe, thread and insert the messages whose UID the folder lacks; return how many."""
    batch: dict[int, FetchedLike] = {}
    for message in messages:
        batch.setdefault(int(message.uid), message)
    if not batch:
        return 0
    present = set(
        db.session.execute(
            select(Message.uid).where(
                Message.folder_id == folder.id, Message.uid >= min(batch), Message.uid <= max(batch)
            )
        ).scalars()
    )
    new = [message for uid, message in batch.items() if uid not in present]
    if new:
        indexed = [parse.index(message.raw) for message in new]
        contents = _content_ids(folder.mailbox_id, new)
        conversations = _thread(folder.mailbox_id, new, indexed)
        db.session.execute(
            insert(Message).execution_options(**BULK),
            [
                _message_row(folder, message, found, content, conversation)
                for message, found, content, conversation in zip(new, indexed, contents, conversations)
            ],
        )
        _refresh_conversations(set(conversations))
        folder.message_count = (folder.message_count or 0) + len(new)
    top = max(batch) + 1
    if folder.uidnext is None or top > folder.uidnext:
        folder.uidnext = top
    return len(new)


def set_flags(folder: MailFolder, flags: Mapping[int, Iterable[str]]) -> int:
    """Write the server's flags of these UIDs where they differ from the stored ones; return how many."""
    wanted = {int(uid): _flag_text(values) for uid, values in flags.items()}
    changes = []
    touched: set[int] = set()
    for chunk in _chunks(list(wanted)):
        rows = db.session.execute(
            select(
                Message.id, Message.uid, Message.flags, Message.seen, Message.flagged, Message.conversation_id
            ).where(
                Message.folder_id == folder.id, Message.uid.in_(chunk)
            )
        )
        for message_id, uid, stored, seen, flagged, conversation_id in rows:
            if wanted[uid] != stored:
                change = {"id": message_id, "flags": wanted[uid], **_flag_columns(wanted[uid])}
                changes.append(change)
                if (change["seen"], change["flagged"]) != (seen, flagged):
                    touched.add(conversation_id)
    if changes:
        db.session.execute(update(Message), changes)
        _refresh_conversations(touched)
    return len(changes)


def remove_messages(folder: MailFolder, uids: Iterable[int]) -> int:
    """Delete these UIDs from the folder, and what only they used; return how many were stored."""
    ids = []
    for chunk in _chunks(sorted({int(uid) for uid in uids})):
        ids.extend(
            db.session.execute(
                select(Message.id).where(Message.folder_id == folder.id, Message.uid.in_(chunk))
            ).scalars()
        )
    _delete(folder, ids)
    return len(ids)


def remap(folder: MailFolder, uidvalidity: int, server: Mapping[int, tuple[str | None, datetime, int]]) -> list[int]:
    """Re-key stored messages to the server's new UIDs after a UIDVALIDITY change; return the UIDs to fetch.

    A stored message matches a server one with the same Message-ID, INTERNALDATE and size, or
    without a Message-ID the same date and size when only one message on each side has them.
    Stored messages that match nothing are deleted.
    """
    stored = db.session.execute(
        select(Message.id, Message.uid, Message.message_id, Message.internaldate, Message.size)
        .where(Message.folder_id == folder.id)
        .order_by(Message.uid)
    ).all()
    stored_by_key: dict[tuple, list[int]] = {}
    for message_id, _uid, mid, internaldate, size in stored:
        stored_by_key.setdefault((mid, _second(internaldate), size), []).append(message_id)
    server_by_key: dict[tuple, list[int]] = {}
    for uid in sorted(server):
        mid, internaldate, size = server[uid]
        key = (parse.normalised_message_id(mid), _second(internaldate), int(size))
        server_by_key.setdefault(key, []).append(int(uid))
    renumbered: dict[int, int] = {}  # stored message id -> new UID
    for key, ids in stored_by_key.items():
        uids = server_by_key.get(key, [])
        if key[0] is None and (len(ids) != 1 or len(uids) != 1):
            continue  # without a Message-ID only a unique date and size is a match
        renumbered.update(zip(ids, uids))
    _delete(folder, [row[0] for row in stored if row[0] not in renumbered])
    if renumbered:
        # Through negative UIDs: an old UID may be another message's new one, and (folder, uid) is unique.
        db.session.execute(update(Message), [{"id": id_, "uid": -uid} for id_, uid in renumbered.items()])
        db.session.execute(
            update(Message).where(Message.folder_id == folder.id, Message.uid < 0).values(uid=-Message.uid),
            execution_options={"synchronize_session": False},
        )
    folder.uidvalidity = uidvalidity
    folder.uidnext = max(renumbered.values()) + 1 if renumbered else None
    # Modification sequences belong to the old UIDVALIDITY.
    folder.highestmodseq = None
    kept = set(renumbered.values())
    return sorted(int(uid) for uid in server if int(uid) not in kept)


def rename_folder(folder: MailFolder, new_name: str) -> None:
    """Give the folder the server's new name; its messages stay."""
    if folder.name == new_name:
        return
    taken = db.session.execute(
        select(MailFolder).where(MailFolder.mailbox_id == folder.mailbox_id, MailFolder.name == new_name)
    ).scalar_one_or_none()
    if taken is not None:
        # A folder made under the new name before the rename was seen: the renamed one's mail wins.
        _delete(taken, list(db.session.execute(select(Message.id).where(Message.folder_id == taken.id)).scalars()))
        db.session.delete(taken)
        db.session.flush()
    folder.name = new_name
    db.session.flush()


def folder_counts(mailbox_id: int) -> dict[str, int]:
    """Return each synced folder's number of messages, by folder name."""
    rows = db.session.execute(
        select(MailFolder.name, MailFolder.message_count)
        .where(MailFolder.mailbox_id == mailbox_id)
        .order_by(MailFolder.name)
    )
    return {name: count for name, count in rows}


def _chunks(values: Sequence) -> Iterator[Sequence]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def _second(moment: datetime) -> datetime:
    """Return a time in UTC to the second, as IMAP gives INTERNALDATE."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def _flag_text(flags: Iterable[str | bytes]) -> str:
    names = {flag.decode("utf-8", "replace") if isinstance(flag, bytes) else str(flag) for flag in flags}
    return " ".join(sorted(names))


def _flag_columns(flags: str) -> dict[str, bool]:
    lowered = set(flags.lower().split())
    return {"seen": "\\seen" in lowered, "flagged": "\\flagged" in lowered, "answered": "\\answered" in lowered}


def _content_ids(mailbox_id: int, messages: list[FetchedLike]) -> list[int]:
    """Return each message's content row, inserting the contents not stored yet in one statement."""
    hashes = [hashlib.sha256(message.raw).hexdigest() for message in messages]
    ids: dict[str, int] = {}
    for chunk in _chunks(list(set(hashes))):
        ids.update(
            (sha256, id_)
            for id_, sha256 in db.session.execute(
                select(MessageContent.id, MessageContent.sha256).where(
                    MessageContent.mailbox_id == mailbox_id, MessageContent.sha256.in_(chunk)
                )
            )
        )
    missing: dict[str, FetchedLike] = {}
    for sha256, message in zip(hashes, messages):
        if sha256 not in ids:
            missing.setdefault(sha256, message)
    if missing:
        # A plain executemany, then one SELECT for the new ids: with blobs of 40 KB on average,
        # measured faster on SQLite than one INSERT ... RETURNING of all the rows.
        db.session.execute(
            insert(MessageContent).execution_options(**BULK),
            [
                {"mailbox_id": mailbox_id, "sha256": sha256, "size": len(message.raw), "raw": message.raw}
                for sha256, message in missing.items()
            ],
        )
        for chunk in _chunks(list(missing)):
            ids.update(
                (sha256, id_)
                for id_, sha256 in db.session.execute(
                    select(MessageContent.id, MessageContent.sha256).where(
                        MessageContent.mailbox_id == mailbox_id, MessageContent.sha256.in_(chunk)
                    )
                )
            )
    return [ids[sha256] for sha256 in hashes]


@dataclass
class _Group:
    """Messages of a batch that share a thread, and the stored conversations they reach."""

    messages: list[int]
    conversations: set[int]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[tuple, tuple] = {}

    def find(self, node: tuple) -> tuple:
        parent = self.parent.setdefault(node, node)
        if parent != node:
            parent = self.parent[node] = self.find(parent)
        return parent

    def union(self, one: tuple, other: tuple) -> None:
        first, second = self.find(one), self.find(other)
        if first != second:
            self.parent[second] = first


def _thread(mailbox_id: int, messages: list[FetchedLike], indexed: list[parse.Indexed]) -> list[int]:
    """Return each message's conversation: joined, created, or several merged into one.

    A message joins the conversation of any Message-ID it carries or refers to (its own: a copy
    in another folder; its ancestors; and, through the keys a reply left, its replies stored
    before it). Without references, a reply (Re:, AW: ...) joins the latest conversation of the
    same subject; an original keeps its own, so newsletters of one subject stay apart.
    """
    keys = [_keys(found) for found in indexed]
    subjects = [parse.normalised_subject(found.subject) for found in indexed]
    subject_keys = [_subject_key(subject) for subject, _ in subjects]
    stored_keys: dict[str, int] = {}
    for chunk in _chunks(list({key for message_keys in keys for key in message_keys})):
        stored_keys.update(
            db.session.execute(
                select(ThreadKey.message_id, ThreadKey.conversation_id).where(
                    ThreadKey.mailbox_id == mailbox_id, ThreadKey.message_id.in_(chunk)
                )
            ).all()
        )
    by_subject = [
        index
        for index, found in enumerate(indexed)
        if not found.references and subjects[index][1] and subject_keys[index]
    ]
    stored_subjects: dict[str, int] = {}
    wanted_subjects = list({subject_keys[index] for index in by_subject})
    for chunk in _chunks(wanted_subjects):
        rows = db.session.execute(
            select(Conversation.subject_key, Conversation.id)
            .where(Conversation.mailbox_id == mailbox_id, Conversation.subject_key.in_(chunk))
            .order_by(Conversation.latest_at)
        )
        stored_subjects.update(rows.all())  # the latest comes last and wins

    threads = _UnionFind()
    for index, message_keys in enumerate(keys):
        threads.find(("message", index))
        for key in message_keys:
            threads.union(("message", index), ("key", key))
            if key in stored_keys:
                threads.union(("key", key), ("conversation", stored_keys[key]))
    first_with_subject: dict[str, int] = {}
    for index, subject_key in enumerate(subject_keys):
        if subject_key:
            first_with_subject.setdefault(subject_key, index)
    for index in by_subject:
        if subject_keys[index] in stored_subjects:
            threads.union(("message", index), ("conversation", stored_subjects[subject_keys[index]]))
        elif first_with_subject[subject_keys[index]] != index:
            threads.union(("message", index), ("message", first_with_subject[subject_keys[index]]))

    groups: dict[tuple, _Group] = {}
    for index in range(len(messages)):
        groups.setdefault(threads.find(("message", index)), _Group([], set())).messages.append(index)
    for conversation_id in {*stored_keys.values(), *stored_subjects.values()}:
        root = threads.find(("conversation", conversation_id))
        if root in groups:
            groups[root].conversations.add(conversation_id)

    merges: list[tuple[int, list[int]]] = []
    created: list[_Group] = []
    chosen: dict[tuple, int] = {}
    for root, group in groups.items():
        if not group.conversations:
            created.append(group)
            continue
        survivor = min(group.conversations)
        chosen[root] = survivor
        if len(group.conversations) > 1:
            merges.append((survivor, sorted(group.conversations - {survivor})))
    for survivor, others in merges:
        _merge(survivor, others)
    if created:
        rows = []
        for group in created:
            first = min(group.messages, key=lambda index: _when(indexed[index], messages[index]))
            rows.append({
                "mailbox_id": mailbox_id,
                "subject": subjects[first][0],
                "subject_key": subject_keys[first],
                "latest_at": max(_utc(messages[index].internaldate) for index in group.messages),
                "message_count": 0,
                "unread_count": 0,
                "flagged": False,
                "has_attachments": False,
            })
        inserted = db.session.execute(
            insert(Conversation).execution_options(**BULK).returning(Conversation.id, sort_by_parameter_order=True),
            rows,
        ).scalars().all()
        for group, conversation_id in zip(created, inserted):
            chosen[threads.find(("message", group.messages[0]))] = conversation_id

    conversation_of = [chosen[threads.find(("message", index))] for index in range(len(messages))]
    new_keys: dict[str, int] = {}
    for index, message_keys in enumerate(keys):
        for key in message_keys:
            if key not in stored_keys:
                new_keys.setdefault(key, conversation_of[index])
    if new_keys:
        db.session.execute(
            insert(ThreadKey).execution_options(**BULK),
            [
                {"mailbox_id": mailbox_id, "message_id": key, "conversation_id": conversation_id}
                for key, conversation_id in new_keys.items()
            ],
        )
    return conversation_of


def _keys(found: parse.Indexed) -> list[str]:
    keys = list(found.references)
    if found.message_id:
        keys.append(found.message_id)
    return keys


def _subject_key(subject: str) -> str:
    return subject.casefold()[:KEY_LENGTH]


def _when(found: parse.Indexed, message: FetchedLike) -> datetime:
    return found.date or _utc(message.internaldate)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _merge(survivor: int, others: list[int]) -> None:
    """Move the messages and keys of `others` into `survivor` and delete them."""
    options = {"synchronize_session": False}
    db.session.execute(
        update(Message).where(Message.conversation_id.in_(others)).values(conversation_id=survivor),
        execution_options=options,
    )
    db.session.execute(
        update(ThreadKey).where(ThreadKey.conversation_id.in_(others)).values(conversation_id=survivor),
        execution_options=options,
    )
    db.session.execute(delete(Conversation).where(Conversation.id.in_(others)), execution_options=options)


def _refresh_conversations(ids: set[int]) -> None:
    """Recompute what a list shows of these conversations from their messages."""
    if not ids:
        return
    of_conversation = Message.conversation_id == Conversation.id

    def aggregate(expression, *where):
        return select(expression).where(of_conversation, *where).scalar_subquery()

    newest = (
        select(Message.id)
        .where(of_conversation)
        .order_by(Message.internaldate.desc(), Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    for chunk in _chunks(sorted(ids)):
        db.session.execute(
            update(Conversation)
            .where(Conversation.id.in_(chunk))
            .values(
                message_count=aggregate(func.count(distinct(Message.content_id))),
                unread_count=aggregate(func.count(distinct(Message.content_id)), Message.seen.is_(False)),
                flagged=exists().where(of_conversation, Message.flagged.is_(True)),
                has_attachments=exists().where(of_conversation, Message.has_attachments.is_(True)),
                latest_at=func.coalesce(aggregate(func.max(Message.internaldate)), Conversation.latest_at),
                latest_message_id=newest,
            ),
            execution_options={"synchronize_session": False},
        )


def _delete(folder: MailFolder, ids: list[int]) -> None:
    """Delete these messages of the folder, then the contents and conversations nothing uses any more."""
    if not ids:
        return
    options = {"synchronize_session": False}
    contents: set[int] = set()
    conversations: set[int] = set()
    for chunk in _chunks(ids):
        for content_id, conversation_id in db.session.execute(
            select(Message.content_id, Message.conversation_id).where(Message.id.in_(chunk))
        ):
            contents.add(content_id)
            conversations.add(conversation_id)
        db.session.execute(delete(Message).where(Message.id.in_(chunk)), execution_options=options)
    for chunk in _chunks(sorted(contents)):
        db.session.execute(
            delete(MessageContent).where(
                MessageContent.id.in_(chunk), ~exists().where(Message.content_id == MessageContent.id)
            ),
            execution_options=options,
        )
    for chunk in _chunks(sorted(conversations)):
        db.session.execute(
            delete(Conversation).where(
                Conversation.id.in_(chunk), ~exists().where(Message.conversation_id == Conversation.id)
            ),
            execution_options=options,
        )
    _refresh_conversations(conversations)
    folder.message_count = max((folder.message_count or 0) - len(ids), 0)


def _message_row(
    folder: MailFolder, message: FetchedLike, found: parse.Indexed, content_id: int, conversation_id: int
) -> dict:
    flags = _flag_text(message.flags)
    return {
        "mailbox_id": folder.mailbox_id,
        "folder_id": folder.id,
        "uid": int(message.uid),
        "content_id": content_id,
        "conversation_id": conversation_id,
        "flags": flags,
        **_flag_columns(flags),
        "internaldate": _utc(message.internaldate),
        "date": found.date,
        "size": int(message.size),
        "message_id": found.message_id,
        "in_reply_to": found.in_reply_to,
        "references": " ".join(found.references) or None,
        "subject": found.subject,
        "from_name": found.from_name,
        "from_address": found.from_address,
        "to_text": found.to_text,
        "to_addresses": list(found.to_addresses),
        "cc_text": found.cc_text,
        "cc_addresses": list(found.cc_addresses),
        "has_attachments": found.has_attachments,
        "attachment_names": list(found.attachment_names),
        "snippet": found.snippet,
        "parse_error": found.parse_error,
    }
