"""Sending from a system mailbox connected by a delegate: as the shared address with the
delegate's token (Send As), refused and explained where the delegate has no Send As; and the
test message on the system mailbox's page."""

from sqlalchemy import select

from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.sending.models import OutgoingMessage
from tests.conftest import csrf_token
from tests.dovecot.fixtures import ADELE, ALEX, HELPDESK, SALES
from tests.mailboxes.conftest import htmx, run_queued
from tests.mailboxes.test_system_mailboxes import added, checked_after_connecting, connect_system

COMPOSE = "/mail/compose"


def connected(app, browser, identity_provider: str, label: str, address: str, delegate: str) -> tuple[str, int]:
    """Add and connect a system mailbox through `delegate`, and let the worker run the check that connecting queues."""
    page = added(app, browser, label, address)
    assert connect_system(browser, identity_provider, page, delegate).status_code == 200
    checked_after_connecting(app, browser, page)
    with app.app_context():
        return page, db.session.execute(select(Mailbox.id).where(Mailbox.address == address)).scalar_one()


def send_from(app, browser, mailbox_id: int, to: str) -> OutgoingMessage:
    data = {"csrf_token": csrf_token(browser, COMPOSE), "mailbox": str(mailbox_id), "to": to, "subject": "From the team"}
    answer = browser.post(COMPOSE, data=data, content_type="multipart/form-data")
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert run_queued(app) == 1
    with app.app_context():
        message = db.session.execute(select(OutgoingMessage)).scalars().all()[-1]
        db.session.expunge(message)
        return message


def test_a_delegate_with_send_as_sends_as_the_shared_mailbox(app, dovecot, enabled, mail_identity_provider):
    dovecot.empty(ALEX)
    _, mailbox_id = connected(app, enabled, mail_identity_provider, "Sales", SALES, ADELE)
    assert f'value="{mailbox_id}"' in enabled.get(COMPOSE).get_data(as_text=True)

    message = send_from(app, enabled, mailbox_id, ALEX)

    assert message.state == "sent", message.error_title
    fetched = dovecot.doveadm("fetch", "-u", ALEX, "hdr.from", "mailbox", "INBOX", "header", "message-id", f"<{message.message_id}>")
    assert f"Sales <{SALES}>" in fetched


def test_a_delegate_without_send_as_is_refused_explained(app, dovecot, enabled, mail_identity_provider):
    _, mailbox_id = connected(app, enabled, mail_identity_provider, "Helpdesk", HELPDESK, ALEX)

    message = send_from(app, enabled, mailbox_id, ADELE)

    assert message.state == "failed" and message.error_code == "smtp_send_as_denied"
    shown = enabled.get(f"/mail/outbox/{message.id}").get_data(as_text=True)
    assert f"Not sent: {ALEX} may not send as {HELPDESK}" in shown
    assert f"Add-RecipientPermission -Identity {HELPDESK} -Trustee {ALEX} -AccessRights SendAs" in shown


def test_the_system_mailbox_page_sends_a_test_message_to_itself(app, dovecot, enabled, mail_identity_provider):
    dovecot.empty(SALES)
    page, mailbox_id = connected(app, enabled, mail_identity_provider, "Sales", SALES, ADELE)
    assert "Send a test message to myself" in enabled.get(page).get_data(as_text=True)

    started = enabled.post(
        f"/mail/mailboxes/{mailbox_id}/test-message", data={"csrf_token": csrf_token(enabled, page)},
        headers=htmx(enabled, page),
    )
    assert started.status_code == 200
    assert run_queued(app) == 1
    with app.app_context():
        message = db.session.execute(select(OutgoingMessage)).scalar_one()
        assert message.state == "sent" and message.round_trip_seconds is not None, message.note
