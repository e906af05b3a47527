"""The mail store on the test database: adding idempotently, dedupe, threads, flags, removal,
UIDVALIDITY re-mapping, renames, counts and the cascade from a deleted mailbox."""

import random

from sqlalchemy import func, select

from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.mailstore import store
from oroflask.mailstore.models import Conversation, MailFolder, Message, MessageContent, ThreadKey

from .conftest import fetched, mail
from .test_parse import attachment_message


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


def test_a_message_in_two_folders_is_stored_once_and_is_one_conversation(mailbox_id, context):
    inbox, archive = store.folder(mailbox_id, "INBOX"), store.folder(mailbox_id, "Archive")
    raw = mail("<figures@contoso.com>")

    store.add_messages(inbox, [fetched(1, raw)])
    store.add_messages(archive, [fetched(40, raw, "\\Seen")])
    db.session.commit()

    assert (count(Message), count(MessageContent), count(Conversation)) == (2, 1, 1)
    assert messages(inbox)[1].content_id == messages(archive)[40].content_id
    conversation = db.session.get(Conversation, conversation_of(inbox, 1))
    assert conversation_of(archive, 40) == conversation.id
    # One message, read in one folder and not in the other: unread.
    assert (conversation.message_count, conversation.unread_count) == (1, 1)


def test_a_copy_that_differs_in_its_bytes_joins_the_conversation_of_its_message_id(mailbox_id, context):
    inbox, sent = store.folder(mailbox_id, "INBOX"), store.folder(mailbox_id, "Sent Items")
    store.add_messages(inbox, [fetched(1, mail("<note@contoso.com>", body="Copy one"))])
    store.add_messages(sent, [fetched(1, mail("<note@contoso.com>", body="Copy two"))])

    assert count(MessageContent) == 2
    assert conversation_of(inbox, 1) == conversation_of(sent, 1)
    assert count(Conversation) == 1


def test_a_chain_of_references_is_one_conversation_newest_last(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    store.add_messages(inbox, [fetched(1, mail("<a@x>"), "\\Seen", minutes=0)])
    store.add_messages(inbox, [fetched(2, mail("<b@x>", "Re: Quarterly figures", in_reply_to="<a@x>"), minutes=5)])
    store.add_messages(inbox, [
        fetched(3, mail("<c@x>", "RE: Quarterly figures", references="<a@x> <b@x>"), minutes=9),
        fetched(4, mail("<d@x>", "Other", in_reply_to="<c@x>"), minutes=7),
    ])

    conversations = {conversation_of(inbox, uid) for uid in (1, 2, 3, 4)}
    assert len(conversations) == 1
    conversation = db.session.get(Conversation, conversations.pop())
    db.session.refresh(conversation)
    assert (conversation.subject, conversation.message_count, conversation.unread_count) == ("Quarterly figures", 4, 3)
    assert conversation.latest_at == fetched(3, b"", minutes=9).internaldate
    assert conversation.latest_message_id == messages(inbox)[3].id
    assert (conversation.flagged, conversation.has_attachments) == (False, False)


def test_a_reply_stored_before_its_parent_is_joined_by_the_parent(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    store.add_messages(inbox, [fetched(7, mail("<reply@x>", "Re: Lunch", in_reply_to="<lunch@x>"))])
    store.add_messages(inbox, [fetched(9, mail("<other@x>", "Re: Lunch", references="<lunch@x>"))])
    db.session.commit()
    assert conversation_of(inbox, 7) == conversation_of(inbox, 9)

    store.add_messages(inbox, [fetched(3, mail("<lunch@x>", "Lunch"))])
    db.session.commit()

    assert {conversation_of(inbox, uid) for uid in (3, 7, 9)} == {conversation_of(inbox, 7)}
    assert count(Conversation) == 1


def test_a_message_that_links_two_conversations_merges_them(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    store.add_messages(inbox, [fetched(1, mail("<one@x>", "Budget"))])
    store.add_messages(inbox, [fetched(2, mail("<two@x>", "Re: Budget", in_reply_to="<lost@x>"))])
    assert conversation_of(inbox, 1) != conversation_of(inbox, 2)

    store.add_messages(inbox, [fetched(3, mail("<three@x>", "Re: Budget", references="<one@x> <lost@x>"))])
    db.session.commit()

    assert len({conversation_of(inbox, uid) for uid in (1, 2, 3)}) == 1
    survivor = db.session.execute(select(Conversation)).scalar_one()
    assert survivor.message_count == 3
    assert set(db.session.execute(select(ThreadKey.conversation_id)).scalars()) == {survivor.id}


def test_a_reply_without_references_joins_by_subject_and_an_original_does_not(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    store.add_messages(inbox, [fetched(1, mail("<report@x>", "Weekly report"))])
    store.add_messages(inbox, [
        fetched(2, mail("<answer@x>", "AW: weekly  REPORT")),
        fetched(3, mail("<next-week@x>", "Weekly report")),
        fetched(4, mail("<answer-2@x>", "Re: Another topic")),
        fetched(5, mail("<answer-3@x>", "Re: Another topic")),
    ])

    assert conversation_of(inbox, 2) == conversation_of(inbox, 1)
    assert conversation_of(inbox, 3) != conversation_of(inbox, 1)
    assert conversation_of(inbox, 4) == conversation_of(inbox, 5)
    assert count(Conversation) == 3


def test_flags_are_written_only_where_they_changed(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    store.add_messages(inbox, [fetched(uid, mail(f"<m{uid}@x>", body=str(uid)), "\\Seen") for uid in (1, 2, 3)])
    db.session.commit()

    changed = store.set_flags(inbox, {1: ["\\Seen"], 2: ["\\Flagged", "\\Answered", "\\Seen"], 3: [], 99: ["\\Seen"]})
    db.session.commit()

    assert changed == 2
    assert store.stored_flags(inbox) == {1: {"\\Seen"}, 2: {"\\Answered", "\\Flagged", "\\Seen"}, 3: frozenset()}
    stored = messages(inbox)
    assert stored[2].flags == "\\Answered \\Flagged \\Seen"
    assert (stored[2].seen, stored[2].flagged, stored[2].answered) == (True, True, True)
    assert (stored[3].seen, stored[3].flagged) == (False, False)
    unread = db.session.execute(select(Conversation.unread_count).where(Conversation.id == stored[3].conversation_id)).scalar_one()
    assert unread == 1
    flagged = dict(db.session.execute(select(Conversation.id, Conversation.flagged)).all())
    assert (flagged[stored[2].conversation_id], flagged[stored[1].conversation_id]) == (True, False)
    assert store.set_flags(inbox, {1: ["\\Seen"]}) == 0


def test_removing_messages_frees_content_and_conversations_only_when_unused(mailbox_id, context):
    inbox, archive = store.folder(mailbox_id, "INBOX"), store.folder(mailbox_id, "Archive")
    shared, alone = mail("<shared@x>", "Shared"), mail("<alone@x>", "Alone")
    store.add_messages(inbox, [fetched(1, shared), fetched(2, alone), fetched(3, mail("<r@x>", "Re: Alone", in_reply_to="<alone@x>"))])
    store.add_messages(archive, [fetched(1, shared)])
    db.session.commit()

    assert store.remove_messages(inbox, [1, 2, 404]) == 2
    db.session.commit()

    assert (inbox.message_count, archive.message_count) == (1, 1)
    assert store.stored_uids(inbox) == {3}
    # The shared content stays for the Archive's copy; the alone one goes; its thread keeps the reply.
    assert count(MessageContent) == 2
    assert count(Conversation) == 2
    thread = db.session.get(Conversation, conversation_of(inbox, 3))
    assert thread.message_count == 1

    store.remove_messages(archive, [1])
    store.remove_messages(inbox, [3])
    db.session.commit()
    assert (count(Message), count(MessageContent), count(Conversation), count(ThreadKey)) == (0, 0, 0, 0)
    assert store.folder_counts(mailbox_id) == {"Archive": 0, "INBOX": 0}


def test_a_new_uidvalidity_re_keys_what_matches_without_touching_its_content(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    inbox.uidvalidity, inbox.highestmodseq = 100, 55
    first, second = mail("<first@x>", body="First"), mail("<second@x>", body="Second")
    no_id, gone = mail(None, "No id", body="No Message-ID"), mail("<gone@x>", body="Gone")
    store.add_messages(inbox, [
        fetched(1, first, "\\Seen", minutes=1), fetched(2, second, minutes=2),
        fetched(3, no_id, minutes=3), fetched(4, gone, minutes=4),
    ])
    db.session.commit()
    before = {uid: (message.id, message.content_id, message.conversation_id) for uid, message in messages(inbox).items()}
    at = {uid: message.internaldate for uid, message in messages(inbox).items()}

    # The first message now has UID 2, the second's old UID: the new UIDs cross the old ones.
    missing = store.remap(inbox, 200, {
        2: ("<first@x>", at[1], len(first)),
        5: (" <second@x> ", at[2], len(second)),
        6: (None, at[3], len(no_id)),
        7: ("<new@x>", at[4], 1234),
    })
    db.session.commit()

    assert missing == [7]
    after = {uid: (message.id, message.content_id, message.conversation_id) for uid, message in messages(inbox).items()}
    assert after == {2: before[1], 5: before[2], 6: before[3]}
    assert messages(inbox)[2].flags == "\\Seen"
    assert (inbox.uidvalidity, inbox.uidnext, inbox.highestmodseq, inbox.message_count) == (200, 7, None, 3)
    assert count(MessageContent) == 3


def test_without_message_id_only_an_unambiguous_date_and_size_match(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    twin = mail(None, "Twin", body="Same size")
    store.add_messages(inbox, [fetched(1, twin), fetched(2, mail(None, "Twin", body="Same sizf"))])
    at = messages(inbox)[1].internaldate

    missing = store.remap(inbox, 9, {10: (None, at, len(twin)), 11: (None, at, len(twin))})

    assert missing == [10, 11]
    assert store.stored_uids(inbox) == set()
    assert count(MessageContent) == 0


def test_a_renamed_folder_keeps_its_mail(mailbox_id, context):
    projects = store.folder(mailbox_id, "Projects")
    store.add_messages(projects, [fetched(1, mail("<p@x>"))])
    db.session.commit()

    store.rename_folder(projects, "Archive/Projects 2026")
    db.session.commit()

    assert store.folder(mailbox_id, "Archive/Projects 2026").id == projects.id
    assert store.stored_uids(projects) == {1}
    assert store.folder_counts(mailbox_id) == {"Archive/Projects 2026": 1}


def test_folder_counts_for_the_health_panel(mailbox_id, context):
    inbox, sent = store.folder(mailbox_id, "INBOX"), store.folder(mailbox_id, "Sent Items")
    store.add_messages(inbox, [fetched(uid, mail(f"<i{uid}@x>")) for uid in range(1, 6)])
    store.add_messages(sent, [fetched(1, mail("<s@x>"))])
    db.session.commit()

    assert store.folder_counts(mailbox_id) == {"INBOX": 5, "Sent Items": 1}


def test_an_unreadable_message_is_stored_raw_and_listed(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    garbage = b"\x00\xff garbage \x81" * 50

    assert store.add_messages(inbox, [fetched(1, b""), fetched(2, garbage)]) == 2
    db.session.commit()

    stored = messages(inbox)
    assert stored[1].parse_error == "empty message"
    assert db.session.get(MessageContent, stored[2].content_id).raw == garbage
    assert inbox.message_count == 2


def test_deleting_the_mailbox_deletes_all_its_mail(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    store.add_messages(inbox, [fetched(1, mail("<a@x>")), fetched(2, mail("<b@x>", in_reply_to="<a@x>"))])
    db.session.commit()
    assert db.session.execute(select(func.count()).select_from(ThreadKey)).scalar_one() == 2

    db.session.delete(db.session.get(Mailbox, mailbox_id))
    db.session.commit()

    assert [count(model) for model in (MailFolder, MessageContent, Message, Conversation, ThreadKey)] == [0] * 5


def test_mangled_messages_are_all_stored_and_listed(mailbox_id, context):
    # Seeded damage to a message with every kind of part: cut, bytes flipped, lines dropped.
    chance = random.Random(12)
    whole = attachment_message(bytes(range(256)) * 40, 'attachment; filename="Bericht.pdf"')
    mangled = []
    for uid in range(1, 121):
        raw = bytearray(whole[: chance.randrange(len(whole) + 1)])
        for _ in range(chance.randrange(0, 40)):
            if raw:
                raw[chance.randrange(len(raw))] = chance.randrange(256)
        lines = bytes(raw).split(b"\n")
        mangled.append(fetched(uid, b"\n".join(line for line in lines if chance.random() > 0.1)))
    inbox = store.folder(mailbox_id, "INBOX")

    assert store.add_messages(inbox, mangled) == 120
    db.session.commit()

    assert inbox.message_count == 120
    assert all(message.snippet.isprintable() for message in messages(inbox).values())


def test_a_batch_larger_than_the_parameter_limits_of_one_statement(mailbox_id, context):
    inbox = store.folder(mailbox_id, "INBOX")
    # 1,500 rows of about 30 columns: more bound parameters than one SQLite or PostgreSQL statement takes.
    batch = [fetched(uid, mail(f"<bulk-{uid}@x>", f"Report {uid}", body=f"Number {uid}")) for uid in range(1, 1501)]

    assert store.add_messages(inbox, batch) == 1500
    assert store.remove_messages(inbox, range(1, 1401)) == 1400
    db.session.commit()

    assert (inbox.message_count, count(Message), count(MessageContent), count(Conversation)) == (100, 100, 100, 100)
