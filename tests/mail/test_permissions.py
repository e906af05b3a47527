"""Every mail URL answers 404 to a user who may not read the mailbox, exactly as for a message that
does not exist, and changes nothing."""

import re

from sqlalchemy import select

from oroflask.extensions import db
from oroflask.mailstore.models import Message
from tests.mail.conftest import add
from tests.mail.hostile import hostile_message


def test_another_user_reads_searches_downloads_flags_and_opens_nothing(app, browser, other, mailbox_id):
    (message_id,) = add(app, mailbox_id, [(1, hostile_message())])
    with app.app_context():
        message = db.session.get(Message, message_id)
        conversation_id, folder_id = message.conversation_id, message.folder_id
    assert browser.get(f"/mail/conversations/{conversation_id}").status_code == 200
    reads = [
        f"/mail/conversations/{conversation_id}",
        f"/mail/messages/{message_id}/body",
        f"/mail/messages/{message_id}/body?remote=1",
        f"/mail/messages/{message_id}/inline/logo@contoso",
        f"/mail/messages/{message_id}/attachments/0",
        f"/mail/messages/{message_id}/original",
        f"/mail?mailbox={mailbox_id}",
        f"/mail?mailbox={mailbox_id}&folder={folder_id}",
        f"/mail?folder={folder_id}",
    ]
    for url in reads:
        assert other.get(url).status_code == 404, url
        missing = re.sub(r"/(\d+)", "/999999", url, count=1).replace(f"={mailbox_id}", "=999999")
        assert other.get(missing).status_code == 404, missing
    for query in ("Your account", "mallory", "hello"):
        page = other.get("/mail", query_string={"q": query}).get_data(as_text=True)
        assert 'id="conversation-' not in page and "mallory@" not in page
    listed = other.get("/mail").get_data(as_text=True)
    assert "Your account" not in listed and "Adele Vance" not in listed
    assert other.get(f"/mail/poll?mailbox={mailbox_id}", headers={"HX-Request": "true"}).status_code == 204
    token = re.search(r'"X-CSRFToken": "([^"]+)"', other.get("/mail").get_data(as_text=True))[1]
    for flag in ("read", "flagged"):
        answer = other.post(f"/mail/messages/{message_id}/{flag}", data={"value": "1"},
                            headers={"HX-Request": "true", "X-CSRFToken": token})
        assert answer.status_code == 404
    with app.app_context():
        assert db.session.execute(select(Message.flags)).scalar_one() == "\\Seen"  # as its owner left it


def test_a_visitor_is_sent_to_sign_in(client, mailbox_id):
    assert client.get("/mail").status_code == 302
    assert client.get("/mail/messages/1/original").status_code == 302
