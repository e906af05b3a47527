"""A conversation: messages in order, marked read when opened, hostile HTML made harmless in a
sandboxed frame, inline images, attachments, the original, plain text links, unreadable mail."""

import re

from sqlalchemy import select

from oroflask.extensions import db
from oroflask.mail.models import FlagChange
from oroflask.mailstore.models import Conversation, Message
from tests.mail.conftest import add, mail
from tests.mail.hostile import PIXEL, REMOTE_IMAGE, hostile_message


def conversation_of(app, message_id: int) -> int:
    with app.app_context():
        return db.session.get(Message, message_id).conversation_id


def test_a_conversation_shows_its_messages_in_order_and_marks_them_read(app, browser, mailbox_id):
    first, reply = add(app, mailbox_id, [
        (1, mail("<a@x>", subject="Budget", body="First draft, see https://contoso.example/budget?a=1&b=2.")),
        (2, mail("<b@x>", subject="Re: Budget", body="Looks <fine> to me.", in_reply_to="<a@x>", references="<a@x>")),
    ])
    conversation_id = conversation_of(app, first)
    assert conversation_id == conversation_of(app, reply)
    page = browser.get(f"/mail/conversations/{conversation_id}").get_data(as_text=True)
    assert page.index("First draft") < page.index("Looks &lt;fine&gt; to me.")
    assert ('<a href="https://contoso.example/budget?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">'
            in page)
    with app.app_context():
        assert db.session.get(Conversation, conversation_id).unread_count == 0
        assert all(message.seen for message in db.session.execute(select(Message)).scalars())
        pending = db.session.execute(select(FlagChange.message_id, FlagChange.flag, FlagChange.value)).all()
        assert sorted(pending) == [(first, "\\Seen", True), (reply, "\\Seen", True)]


def test_the_read_and_flag_toggles_change_the_message_at_once(app, browser, mailbox_id):
    (message_id,) = add(app, mailbox_id, [(1, mail("<a@x>"))], flags=("\\Seen",))
    headers = {"HX-Request": "true", "X-CSRFToken": csrf(browser, conversation_of(app, message_id))}
    answer = browser.post(f"/mail/messages/{message_id}/flagged", data={"value": "1"}, headers=headers)
    assert answer.status_code == 200 and "Unflag" in answer.get_data(as_text=True)
    answer = browser.post(f"/mail/messages/{message_id}/read", data={"value": "0"}, headers=headers)
    assert "Mark read" in answer.get_data(as_text=True)
    with app.app_context():
        message = db.session.get(Message, message_id)
        assert (message.seen, message.flagged) == (False, True)
        assert db.session.get(Conversation, message.conversation_id).flagged
    refused = browser.post(f"/mail/messages/{message_id}/read", data={"value": "maybe"}, headers=headers)
    assert refused.status_code == 200
    plain = browser.post(f"/mail/messages/{message_id}/read", data={"value": "1", "csrf_token": headers["X-CSRFToken"]})
    assert plain.status_code == 302


def csrf(browser, conversation_id: int) -> str:
    page = browser.get(f"/mail/conversations/{conversation_id}").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def test_a_hostile_html_message_is_sanitised_and_framed(app, browser, mailbox_id):
    (message_id,) = add(app, mailbox_id, [(1, hostile_message())])
    page = browser.get(f"/mail/conversations/{conversation_of(app, message_id)}").get_data(as_text=True)
    frame = re.search(r"<iframe[^>]+>", page)[0]
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame and "allow-same-origin" not in frame
    assert "Show remote images" in page
    body = browser.get(f"/mail/messages/{message_id}/body")
    policy = body.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;")
    html = body.get_data(as_text=True).split("</head>", 1)[1]
    for gone in ("<script", "alert(", "onload", "onerror", "javascript:", "<form", "<input", "<iframe", "<svg",
                 "url(", "position", "tracker.example.net", "<style"):
        assert gone not in html, gone
    assert "Hello Adele" in html and 'style="color:red"' in html.replace(" ", "")
    link = re.search(r'<a href="https://contoso.example/offer"[^>]*>', html)[0]
    assert 'target="_blank"' in link and 'rel="noopener noreferrer"' in link
    logo = re.search(r'<img src="([^"]+)" alt="logo"', html)[1]
    assert logo == f"/mail/messages/{message_id}/inline/logo@contoso"
    image = browser.get(logo)
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == PIXEL
    remote = browser.get(f"/mail/messages/{message_id}/body?remote=1")
    assert "img-src 'self' data: https:;" in remote.headers["Content-Security-Policy"]
    assert REMOTE_IMAGE.replace("&", "&amp;") in remote.get_data(as_text=True)


def test_a_conversation_of_another_mailbox_or_none_is_not_found(browser, mailbox_id):
    assert browser.get("/mail/conversations/999").status_code == 404
    assert browser.get("/mail/messages/999/body").status_code == 404


def test_attachments_download_with_their_name_and_type_never_inline(app, browser, mailbox_id):
    (message_id,) = add(app, mailbox_id, [(1, hostile_message())])
    page = browser.get(f"/mail/conversations/{conversation_of(app, message_id)}").get_data(as_text=True)
    assert "Invoice März.pdf" in page and "page.html" in page
    pdf = browser.get(f"/mail/messages/{message_id}/attachments/0")
    assert pdf.mimetype == "application/pdf" and pdf.data == b"%PDF-1.4 fake"
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''Invoice%20M%C3%A4rz.pdf" in pdf.headers["Content-Disposition"]
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    page_html = browser.get(f"/mail/messages/{message_id}/attachments/1")
    assert page_html.headers["Content-Disposition"].startswith("attachment;")
    assert "/" not in page_html.headers["Content-Disposition"].split("filename", 1)[1]
    assert "sandbox" in page_html.headers["Content-Security-Policy"]
    assert browser.get(f"/mail/messages/{message_id}/attachments/2").status_code == 404


def test_show_original_gives_the_raw_message_as_plain_text(app, browser, mailbox_id):
    raw = hostile_message()
    (message_id,) = add(app, mailbox_id, [(1, raw)])
    original = browser.get(f"/mail/messages/{message_id}/original")
    assert original.data == raw
    assert original.mimetype == "text/plain"
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in original.headers["Content-Security-Policy"]


def test_an_unreadable_message_shows_its_raw_text_escaped(app, browser, mailbox_id):
    raw = b"<script>alert(1)</script>\r\n\r\nno headers at all"
    (message_id,) = add(app, mailbox_id, [(1, raw)])
    with app.app_context():
        assert db.session.get(Message, message_id).parse_error
    page = browser.get(f"/mail/conversations/{conversation_of(app, message_id)}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
