"""Read and flag changes reach the real Dovecot (Exchange-like and with CONDSTORE) through the
worker's UID STORE, and a sync pass that runs before the write-back does not undo them."""

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from oroflask.database import utcnow
from oroflask.extensions import db
from oroflask.mail import service, tasks
from oroflask.mail.models import FlagChange
from oroflask.mailboxes.models import Mailbox
from oroflask.mailstore.models import Message
from oroflask.worker import queue_of
from tests.dovecot.server import free_port
from tests.mailboxes.conftest import run_queued, signed_in
from tests.sync.conftest import config, enabled, imap_stand_in, mail_server, mailbox_id  # noqa: F401
from tests.sync.test_engine import deliver, imap, sync


def server_flags(server, identity_provider) -> dict[str, set[bytes]]:
    """Return each Inbox message's flags on the server, by subject."""
    with imap(server, identity_provider) as client:
        client.select_folder("INBOX", readonly=True)
        found = client.fetch(client.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        return {
            data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip(): set(data[b"FLAGS"])
            for data in found.values()
        }


def local(app) -> dict[str, tuple[bool, bool]]:
    with app.app_context():
        rows = db.session.execute(select(Message.subject, Message.seen, Message.flagged))
        return {subject: (seen, flagged) for subject, seen, flagged in rows}


def message_id_of(app, subject: str) -> tuple[int, int]:
    with app.app_context():
        message = db.session.execute(select(Message).where(Message.subject == subject)).scalar_one()
        return message.id, message.conversation_id


def test_opening_and_toggling_write_the_flags_back(app, user, mail_server, mailbox_id, mail_identity_provider):
    deliver(mail_server, "Opened")
    deliver(mail_server, "Flagged later")
    sync(app, mailbox_id)
    run_queued(app)
    browser = signed_in(app, user)
    opened, conversation = message_id_of(app, "Opened")
    page = browser.get(f"/mail/conversations/{conversation}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    flagged, _ = message_id_of(app, "Flagged later")
    answer = browser.post(f"/mail/messages/{flagged}/flagged", data={"value": "1"},
                          headers={"HX-Request": "true", "X-CSRFToken": token})
    assert answer.status_code == 200
    assert local(app) == {"Opened": (True, False), "Flagged later": (False, True)}

    assert run_queued(app) >= 1

    on_server = server_flags(mail_server, mail_identity_provider)
    assert b"\\Seen" in on_server["Opened"] and b"\\Flagged" not in on_server["Opened"]
    assert b"\\Flagged" in on_server["Flagged later"] and b"\\Seen" not in on_server["Flagged later"]
    with app.app_context():
        assert db.session.execute(select(FlagChange)).first() is None
    report = sync(app, mailbox_id)
    assert report.flags_changed == 0
    assert local(app) == {"Opened": (True, False), "Flagged later": (False, True)}


def test_a_sync_before_the_write_back_does_not_undo_the_change(
    app, user, mail_server, mailbox_id, mail_identity_provider
):
    deliver(mail_server, "Read here")
    sync(app, mailbox_id)
    run_queued(app)
    browser = signed_in(app, user)
    _, conversation = message_id_of(app, "Read here")
    assert browser.get(f"/mail/conversations/{conversation}").status_code == 200

    sync(app, mailbox_id)  # the write-back is still queued: the server says unread
    run_queued(app)

    assert b"\\Seen" in server_flags(mail_server, mail_identity_provider)["Read here"]
    assert local(app) == {"Read here": (True, False)}
    sync(app, mailbox_id)
    assert local(app) == {"Read here": (True, False)}


def test_a_change_is_kept_while_the_server_cannot_be_reached_and_written_when_it_is_back(
    app, user, mail_server, mailbox_id, mail_identity_provider, caplog
):
    deliver(mail_server, "Kept")
    sync(app, mailbox_id)
    run_queued(app)
    message, _ = message_id_of(app, "Kept")
    app.config["MICROSOFT_IMAP_PORT"] = free_port()  # nothing listens there: the server cannot be reached
    with app.app_context():
        service.set_flag([db.session.get(Message, message)], service.FLAGGED, True)
        for _ in range(12):  # more tries than the queue's retries ever were
            tasks.write_flags(mailbox_id)
        change = db.session.execute(select(FlagChange)).scalar_one()
        assert (change.flag, change.value, change.attempts) == ("\\Flagged", True, 12)
        wait = (change.next_try_at - utcnow()).total_seconds()
        assert tasks.RETRY_CAP_SECONDS - 5 < wait <= tasks.RETRY_CAP_SECONDS
        assert db.session.get(Message, message).flagged
    assert "Writing flags back to mailbox" in caplog.text and "Nothing answers at" in caplog.text
    assert "kept, tried again in 900 s" in caplog.text

    moment = datetime(2026, 12, 2, 10, 7, tzinfo=timezone.utc)
    assert tasks.write_pending_flags.name in [task.name for task in queue_of(app).huey.read_periodic(moment)]
    with app.app_context():
        tasks.write_pending_flags()  # still waiting out its back-off: nothing queued
    assert run_queued(app) == 0

    app.config["MICROSOFT_IMAP_PORT"] = mail_server.imaps_port
    with app.app_context():
        db.session.execute(update(FlagChange).values(next_try_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        tasks.write_pending_flags()
    assert run_queued(app) == 1
    assert b"\\Flagged" in server_flags(mail_server, mail_identity_provider)["Kept"]
    with app.app_context():
        assert db.session.execute(select(FlagChange)).first() is None
    sync(app, mailbox_id)
    assert local(app) == {"Kept": (False, True)}


def test_a_change_waits_while_the_mailbox_is_disconnected(app, user, mail_server, mailbox_id, mail_identity_provider):
    deliver(mail_server, "Later")
    sync(app, mailbox_id)
    run_queued(app)
    message, _ = message_id_of(app, "Later")
    with app.app_context():
        mailbox = db.session.get(Mailbox, mailbox_id)
        grant_id, mailbox.grant_id = mailbox.grant_id, None
        db.session.commit()
        service.set_flag([db.session.get(Message, message)], service.SEEN, True)
        tasks.write_flags(mailbox_id)
        tasks.write_pending_flags()
        assert db.session.execute(select(FlagChange.flag)).scalars().all() == ["\\Seen"]
    assert run_queued(app) == 0
    with app.app_context():
        db.session.get(Mailbox, mailbox_id).grant_id = grant_id
        db.session.commit()
        tasks.write_pending_flags()
    assert run_queued(app) == 1
    assert b"\\Seen" in server_flags(mail_server, mail_identity_provider)["Later"]


def test_a_change_to_a_message_gone_from_the_server_is_dropped_and_the_sync_follows_the_server(
    app, user, mail_server, mailbox_id, mail_identity_provider, caplog
):
    deliver(mail_server, "Staying")
    deliver(mail_server, "Expunged")
    with imap(mail_server, mail_identity_provider) as client:
        client.create_folder("Projects")
        client.append("Projects", b"Subject: Filed\r\nFrom: lee@example.com\r\n\r\nFiled away.\r\n")
    with app.app_context():
        db.session.get(Mailbox, mailbox_id).folders = ["INBOX", "Projects"]
        db.session.commit()
    sync(app, mailbox_id)
    run_queued(app)
    with app.app_context():
        found = db.session.execute(select(Message).where(Message.subject.in_(["Staying", "Expunged", "Filed"])))
        service.set_flag(list(found.scalars()), service.FLAGGED, True)
    with app.app_context():
        assert len(db.session.execute(select(FlagChange)).all()) == 3
    with imap(mail_server, mail_identity_provider) as client:
        client.select_folder("INBOX")
        client.delete_messages(client.search(["SUBJECT", "Expunged"]))
        client.expunge()
        client.delete_folder("Projects")

    with app.app_context():
        tasks.write_flags(mailbox_id)
        assert db.session.execute(select(FlagChange)).first() is None
    assert "the folder Projects no longer exists on the server; 1 read or flag changes dropped" in caplog.text
    assert server_flags(mail_server, mail_identity_provider) == {"Staying": {b"\\Flagged"}}
    sync(app, mailbox_id)
    after_sync = local(app)
    assert after_sync["Staying"] == (False, True) and "Expunged" not in after_sync
