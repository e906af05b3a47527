"""Reply, reply all and forward of synced mail; sent mail that arrives and, after a sync, is in
the recipient's synced mail; the copy appended to Sent Items; the test message's round trip."""

import re
import smtplib
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import select

from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.mailstore.models import Message
from oroflask.sending.models import OutgoingMessage
from oroflask.sync import engine
from tests.conftest import csrf_token
from tests.dovecot.fixtures import ADELE, ALEX
from tests.mailboxes.conftest import htmx, run_queued

COMPOSE = "/mail/compose"
ORIGINAL_ID = "<original-1@contoso.onmicrosoft.com>"


def synced(app, mailbox_id: int) -> None:
    with app.app_context():
        mailbox = db.session.get(Mailbox, mailbox_id)
        mailbox.folders, mailbox.sync_from = ["INBOX"], None
        db.session.commit()
        engine.sync_mailbox(mailbox_id)


def deliver_original(dovecot) -> None:
    mail = EmailMessage()
    mail["From"] = f"Adele Vance <{ADELE}>"
    mail["To"] = f"{ALEX}, lee@contoso.onmicrosoft.com"
    mail["Cc"] = "diego@contoso.onmicrosoft.com"
    mail["Subject"] = "Re: Plans"
    mail["Message-ID"] = ORIGINAL_ID
    mail["References"] = "<first@contoso.onmicrosoft.com>"
    mail.set_content("Shall we meet?\nOn Monday.")
    mail.add_attachment(b"%PDF-1.4 agenda", maintype="application", subtype="pdf", filename="agenda.pdf")
    # Into Alex's Inbox only: smtplib's LMTP cannot read one answer per recipient.
    with smtplib.LMTP("127.0.0.1", dovecot.lmtp_port, timeout=10) as lmtp:
        lmtp.sendmail(ADELE, [ALEX], bytes(mail))


def original_id(app) -> int:
    with app.app_context():
        return db.session.execute(select(Message.id).where(Message.subject == "Re: Plans")).scalar_one()


def form_of(browser, url: str) -> dict:
    page = browser.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    return page.get_data(as_text=True)


def sent_raw(app, browser, mailbox_id: int, fields: dict):
    data = {"csrf_token": csrf_token(browser, COMPOSE), "mailbox": str(mailbox_id), "body": "Yes."}
    data.update(fields)
    response = browser.post(COMPOSE, data=data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert run_queued(app) == 1
    with app.app_context():
        outgoing = db.session.execute(select(OutgoingMessage)).scalars().all()[-1]
        assert outgoing.state == "sent", outgoing.error_title
        return message_from_bytes(outgoing.raw, policy=policy.default)


def test_reply_all_is_prefilled_and_threads_and_leaves_out_the_users_address(app, browser, mailbox_id, dovecot):
    deliver_original(dovecot)
    synced(app, mailbox_id)
    message_id = original_id(app)

    page = form_of(browser, f"{COMPOSE}?mailbox={mailbox_id}&message={message_id}&mode=reply_all")

    assert 'value="Re: Plans"' in page
    assert f'value="{ADELE}"' in page
    assert "lee@contoso.onmicrosoft.com, diego@contoso.onmicrosoft.com" in page and f"{ALEX}," not in page
    assert "&gt; Shall we meet?" in page
    sent = sent_raw(app, browser, mailbox_id, {
        "to": ADELE, "cc": "lee@contoso.onmicrosoft.com", "subject": "Re: Plans",
        "in_reply_to": ORIGINAL_ID, "references": f"<first@contoso.onmicrosoft.com> {ORIGINAL_ID}",
    })
    assert sent["In-Reply-To"] == ORIGINAL_ID
    assert sent["References"].split() == ["<first@contoso.onmicrosoft.com>", ORIGINAL_ID]


def test_reply_answers_the_sender_only(app, browser, mailbox_id, dovecot):
    deliver_original(dovecot)
    synced(app, mailbox_id)

    page = form_of(browser, f"{COMPOSE}?message={original_id(app)}&mode=reply")

    assert re.search(rf'<input[^>]*id="to"[^>]*value="{re.escape(ADELE)}"', page)
    assert re.search(r'<input[^>]*id="cc"[^>]*value=""', page)


def test_forward_keeps_the_attachments(app, browser, mailbox_id, dovecot):
    deliver_original(dovecot)
    synced(app, mailbox_id)
    message_id = original_id(app)

    page = form_of(browser, f"{COMPOSE}?message={message_id}&mode=forward")

    assert 'value="Fwd: Plans"' in page and "agenda.pdf" in page
    sent = sent_raw(app, browser, mailbox_id, {"to": ADELE, "subject": "Fwd: Plans", "forward_of": str(message_id)})
    attachments = list(sent.iter_attachments())
    assert [part.get_filename() for part in attachments] == ["agenda.pdf"]
    assert attachments[0].get_content() == b"%PDF-1.4 agenda"


def test_sent_mail_arrives_and_appears_in_the_recipients_synced_mail(app, browser, mailbox_id, dovecot):
    sent = sent_raw(app, browser, mailbox_id, {"to": ALEX, "subject": "Note to self"})
    synced(app, mailbox_id)

    with app.app_context():
        found = db.session.execute(select(Message).where(Message.mailbox_id == mailbox_id)).scalars().all()
        assert [(m.subject, m.message_id.strip("<>")) for m in found] == [("Note to self", sent["Message-ID"].strip("<>"))]


def test_sent_copy_append_stores_the_message_in_sent_items(app, browser, mailbox_id, dovecot):
    app.config["SENT_COPY"] = "append"

    sent = sent_raw(app, browser, mailbox_id, {"to": ADELE, "subject": "Kept"})

    found = dovecot.doveadm("search", "-u", ALEX, "mailbox", "Sent Items", "header", "message-id", sent["Message-ID"])
    assert found.strip()
    flags = dovecot.doveadm("fetch", "-u", ALEX, "flags", "mailbox", "Sent Items", "header", "message-id", sent["Message-ID"])
    assert "\\Seen" in flags


def test_the_test_message_round_trip_is_timed_and_shown(app, browser, mailbox_id):
    page = "/account/mailbox"
    shown = browser.get(page).get_data(as_text=True)
    assert "Send a test message to myself" in shown

    started = browser.post(
        f"/mail/mailboxes/{mailbox_id}/test-message", data={"csrf_token": csrf_token(browser, page)},
        headers=htmx(browser, page),
    )
    assert started.status_code == 200 and 'hx-trigger="every 1s"' in started.get_data(as_text=True)
    assert run_queued(app) == 1

    with app.app_context():
        outgoing = db.session.execute(select(OutgoingMessage)).scalar_one()
        assert outgoing.round_trip_seconds is not None and outgoing.round_trip_seconds < 30
        status = f"/mail/outbox/{outgoing.id}"
    done = browser.get(status, headers=htmx(browser, status)).get_data(as_text=True)
    assert "The test message arrived in the Inbox after" in done and "hx-trigger" not in done
