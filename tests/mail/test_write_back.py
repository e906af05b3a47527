"""Read and flag changes reach the real Dovecot (Exchange-like and with CONDSTORE) through the
worker's UID STORE, and a sync pass that runs before the write-back does not undo them."""

import re

import pytest
from sqlalchemy import select

from oroflask.extensions import db
from oroflask.failures import EXPLAINED
from oroflask.mail import service, tasks
from oroflask.mail.models import FlagChange
from oroflask.mailstore.models import Message
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


def test_a_failed_write_back_is_explained_and_kept_for_its_retry(app, user, mail_server, mailbox_id, caplog):
    deliver(mail_server, "Kept")
    sync(app, mailbox_id)
    run_queued(app)
    message, _ = message_id_of(app, "Kept")
    app.config["MICROSOFT_IMAP_PORT"] = free_port()  # nothing listens there: the server cannot be reached
    with app.app_context():
        service.set_flag([db.session.get(Message, message)], service.FLAGGED, True)
        with pytest.raises(EXPLAINED):
            tasks.write_flags(mailbox_id)
        assert db.session.execute(select(FlagChange.flag)).scalars().all() == ["\\Flagged"]
        assert db.session.get(Message, message).flagged
    assert "Writing flags back to mailbox" in caplog.text and "Nothing answers at" in caplog.text
    app.config["MICROSOFT_IMAP_PORT"] = mail_server.imaps_port
    with app.app_context():
        tasks.write_flags(mailbox_id)
    assert b"\\Flagged" in server_flags(mail_server, mail_identity_provider_of(app))["Kept"]


def mail_identity_provider_of(app) -> str:
    return app.config["MICROSOFT_AUTHORITY"]
