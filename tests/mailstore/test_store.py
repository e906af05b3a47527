"""The mail store on the test database: adding idempotently, dedupe, threads, flags, removal,
UIDVALIDITY re-mapping, renames, counts and the cascade from a deleted mailbox."""

from sqlalchemy import func, select

from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.mailstore import store
from oroflask.mailstore.models import Conversation, MailFolder, Message, MessageContent, ThreadKey

from .conftest import fetched, mail


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def messages(folder) -> dict[int, Message]:
    rows = db.session.execute(select(Message).where(Message.folder_id == folder.id)).scalars()
    return {message.uid: message for message in rows}


def conversation_of(folder, uid: int) -> int:
    return messages(folder)[uid].conversation_id


def test_a_batch_added_twice_is_stored_once(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    batch = [fetched(uid, mail(f"<m{uid}@contoso.com>", body=f"Message {uid}"), minutes=uid) for uid in (3, 4, 7)]

    assert store.add_messages(inbox, batch) == 3
    db.session.commit()
    assert store.add_messages(inbox, batch) == 0
    assert store.add_messages(inbox, [*batch, fetched(9, mail("<m9@contoso.com>"))]) == 1
    db.session.commit()

    assert store.stored_uids(inbox) == {3, 4, 7, 9}
    assert (count(Message), count(MessageContent)) == (4, 4)
    assert (inbox.message_count, inbox.uidnext) == (4, 10)
    stored = messages(inbox)[4]
    assert (stored.subject, stored.from_name, stored.from_address) == ("Quarterly figures", "Alex Wilber", "alex@contoso.com")
    assert stored.to_addresses == ["adele@contoso.com"]
    assert stored.snippet == "Message 4"
    assert db.session.get(MessageContent, stored.content_id).raw == batch[1].raw
    assert store.folder(mailbox_id, "INBOX").id == inbox.id
