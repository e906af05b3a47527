"""Compose, the outbox and its delivery by the worker, against the test Dovecot: what arrives,
what is refused and explained, retried, rate-limited, never sent twice; and the permissions."""

import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from oroflask.database import utcnow
from oroflask.connection.models import MicrosoftGrant
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.sending import service
from oroflask.sending.models import OutgoingMessage
from oroflask.worker import queue_of
from tests.conftest import csrf_token
from tests.dovecot.fixtures import ADELE, ALEX
from tests.mailboxes.conftest import htmx, run_queued

COMPOSE = "/mail/compose"


def send(browser, mailbox_id: int, **fields):
    data = {"csrf_token": csrf_token(browser, COMPOSE), "mailbox": str(mailbox_id), "subject": "Hello", "body": "Hi.\nBye."}
    data.update(fields)
    return browser.post(COMPOSE, data=data, content_type="multipart/form-data")


def stored(app, outgoing_id: int) -> OutgoingMessage:
    with app.app_context():
        message = db.session.get(OutgoingMessage, outgoing_id)
        db.session.expunge(message)
        return message


def outgoing_id_of(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def arrived(dovecot, address: str, message_id: str) -> bool:
    return bool(dovecot.doveadm("search", "-u", address, "mailbox", "INBOX", "header", "message-id", message_id).strip())


def test_a_composed_message_is_queued_sent_by_the_worker_and_arrives(app, browser, mailbox_id, dovecot):
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=f"Adele <{ADELE}>", bcc="lee@contoso.onmicrosoft.com"))
    page = f"/mail/outbox/{outgoing_id}"

    waiting = browser.get(page, headers=htmx(browser, page)).get_data(as_text=True)
    assert "Queued" in waiting and 'hx-trigger="every 1s"' in waiting
    assert 'http-equiv="refresh"' in browser.get(page).get_data(as_text=True)

    assert run_queued(app) == 1

    done = browser.get(page, headers=htmx(browser, page))
    assert "Sent" in done.get_data(as_text=True) and "hx-trigger" not in done.get_data(as_text=True)
    assert done.headers["Vary"] == "HX-Request" or "HX-Request" in done.headers["Vary"]
    message = stored(app, outgoing_id)
    assert message.state == "sent" and message.attempts == 1
    assert arrived(dovecot, ADELE, f"<{message.message_id}>")
    assert b"Bcc" not in message.raw and "lee@contoso.onmicrosoft.com" in message.recipients


def test_running_the_task_twice_sends_once(app, browser, mailbox_id, dovecot):
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))
    assert run_queued(app) == 1
    with app.app_context():
        assert service.deliver(outgoing_id) is None
    message = stored(app, outgoing_id)
    found = dovecot.doveadm("search", "-u", ADELE, "mailbox", "INBOX", "header", "message-id", f"<{message.message_id}>")
    assert len(found.strip().splitlines()) == 1 and message.attempts == 1


def test_a_send_cut_off_midway_is_not_sent_again(app, browser, mailbox_id):
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))
    with app.app_context():
        message = db.session.get(OutgoingMessage, outgoing_id)
        message.state, message.started_at = "sending", utcnow() - timedelta(hours=1)
        db.session.commit()
    run_queued(app)
    message = stored(app, outgoing_id)
    assert message.state == "failed" and message.error_title == "Sending was interrupted"


def test_the_rate_limit_holds_the_31st_message_of_a_minute(app, browser, mailbox_id):
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))
    with app.app_context():
        for number in range(service.PER_MINUTE):
            db.session.add(OutgoingMessage(
                mailbox_id=mailbox_id, message_id=f"m{number}@x", recipients=[ADELE], raw=b"x",
                state="sent", attempts=1, started_at=utcnow() - timedelta(seconds=30), subject="",
            ))
        db.session.commit()
        wait = service.deliver(outgoing_id)
    assert 25 <= wait <= 31
    assert stored(app, outgoing_id).state == "queued"


def test_workers_claiming_at_the_same_instant_send_no_31st_message(app, browser, mailbox_id, dovecot):
    """On PostgreSQL each worker's count would miss the others' uncommitted claims without the mailbox's lock."""
    workers = 6
    with app.app_context():
        for number in range(service.PER_MINUTE - 1):
            db.session.add(OutgoingMessage(
                mailbox_id=mailbox_id, message_id=f"m{number}@x", recipients=[ADELE], raw=b"x",
                state="sent", attempts=1, started_at=utcnow() - timedelta(seconds=30), subject="",
            ))
        db.session.commit()
    queued = [outgoing_id_of(send(browser, mailbox_id, to=ADELE, subject=f"At once {number}")) for number in range(workers)]
    start = threading.Barrier(workers)
    failures: list[BaseException] = []

    def deliver(outgoing_id: int) -> None:
        with app.app_context():
            start.wait()
            try:
                service.deliver(outgoing_id)
            except BaseException as error:  # reported by the assertion below
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=deliver, args=(outgoing_id,)) for outgoing_id in queued]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not failures, failures
    states = sorted(stored(app, outgoing_id).state for outgoing_id in queued)
    assert states == ["queued"] * (workers - 1) + ["sent"]
    with app.app_context():
        started = db.session.execute(
            select(func.count(OutgoingMessage.id)).where(
                OutgoingMessage.mailbox_id == mailbox_id, OutgoingMessage.started_at > utcnow() - service.WINDOW
            )
        ).scalar_one()
    assert started == service.PER_MINUTE
    arrivals = dovecot.doveadm("search", "-u", ADELE, "mailbox", "INBOX", "header", "subject", "At once")
    assert len(arrivals.strip().splitlines()) == 1


def test_a_temporary_refusal_is_retried_later(app, browser, mailbox_id, smtp_stand_in):
    server = smtp_stand_in(answers={"DATA END": ["451 4.7.500 Server busy. Please try again later."]})
    app.config.update(MICROSOFT_SMTP_HOST="127.0.0.1", MICROSOFT_SMTP_PORT=server.port, MICROSOFT_SMTP_SECURITY="none")
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))
    with app.app_context():
        wait = service.deliver(outgoing_id)
    message = stored(app, outgoing_id)
    assert wait == service.FIRST_RETRY_SECONDS
    assert message.state == "queued" and message.error_code == "smtp_try_later" and message.next_attempt_at
    page = f"/mail/outbox/{outgoing_id}"
    assert "tried again" in browser.get(page).get_data(as_text=True)


def test_send_as_denied_is_shown_explained(app, browser, mailbox_id, smtp_stand_in):
    server = smtp_stand_in(answers={"DATA END": [
        f"554 5.2.252 SendAsDenied; {ADELE} not allowed to send as {ALEX}; STOREDRV.Submission.Exception"
    ]})
    app.config.update(MICROSOFT_SMTP_HOST="127.0.0.1", MICROSOFT_SMTP_PORT=server.port, MICROSOFT_SMTP_SECURITY="none")
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))
    run_queued(app)
    page = f"/mail/outbox/{outgoing_id}"
    shown = browser.get(page, headers=htmx(browser, page)).get_data(as_text=True)
    assert f"Not sent: {ADELE} may not send as {ALEX}" in shown
    assert "Add-RecipientPermission" in shown and "hx-trigger" not in shown


def test_addresses_are_checked_beside_their_fields_and_nothing_is_stored(app, browser, mailbox_id):
    refused = send(browser, mailbox_id, to="adele@", cc="ok@contoso.onmicrosoft.com, not an address")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="to-error"' in text and "adele@ is not an e-mail address" in text
    assert 'id="cc-error"' in text
    empty = send(browser, mailbox_id)
    assert "Enter at least one recipient" in empty.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(OutgoingMessage)).first() is None


def test_attachments_over_the_limit_are_refused_before_the_upload_is_read(app, browser, mailbox_id):
    app.config["MAIL_ATTACHMENT_MAX_MB"] = 1
    # Only the announced length is sent: the answer comes from it, before any body is read.
    refused = browser.post(
        COMPOSE,
        data=b"--x--",
        content_type="multipart/form-data; boundary=x",
        environ_overrides={"CONTENT_LENGTH": str(3 * 1024 * 1024)},
    )
    assert refused.status_code == 413
    assert "at most 1 MB of attachments" in refused.get_data(as_text=True)


def test_an_attachment_over_the_limit_is_named_beside_the_field(app, browser, mailbox_id, monkeypatch):
    # Kilobytes for megabytes: the same check, without a body the test client spools to a file.
    monkeypatch.setattr("oroflask.sending.routes.MEGABYTE", 1024)
    app.config["MAIL_ATTACHMENT_MAX_MB"] = 1
    big = (io.BytesIO(b"x" * 1100), "big.bin")
    refused = send(browser, mailbox_id, to=ADELE, attachments=[big])
    assert refused.status_code == 422
    assert "big.bin is larger than 1 MB" in refused.get_data(as_text=True)


def test_a_mailbox_or_message_the_user_may_not_use_is_not_found(app, browser, mailbox_id, admin_client):
    assert admin_client.get(f"{COMPOSE}?mailbox={mailbox_id}").status_code == 404
    assert browser.get(f"{COMPOSE}?mailbox={mailbox_id}").status_code == 200
    assert browser.get(f"{COMPOSE}?message=999999&mode=reply").status_code == 404
    assert browser.get(f"{COMPOSE}?mailbox=abc").status_code == 404
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))
    assert admin_client.get(f"/mail/outbox/{outgoing_id}").status_code == 404
    token = csrf_token(admin_client, "/account/mailbox")
    assert admin_client.post(f"/mail/mailboxes/{mailbox_id}/test-message", data={"csrf_token": token}).status_code == 404
    forged = admin_client.post(
        COMPOSE, data={"csrf_token": csrf_token(admin_client, COMPOSE), "mailbox": str(mailbox_id), "to": ADELE}
    )
    assert forged.status_code == 422


def test_a_temporary_refusal_puts_the_task_back_on_the_queues_schedule(app, browser, mailbox_id, smtp_stand_in):
    server = smtp_stand_in(answers={"MAIL": ["421 4.3.2 Service not available, closing transmission channel"]})
    app.config.update(MICROSOFT_SMTP_HOST="127.0.0.1", MICROSOFT_SMTP_PORT=server.port, MICROSOFT_SMTP_SECURITY="none")
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))

    run_queued(app)

    # Huey holds a task whose time has not come in its schedule, not in the queue.
    scheduled = queue_of(app).huey.scheduled()
    assert [task.args for task in scheduled] == [(outgoing_id,)]
    assert stored(app, outgoing_id).state == "queued"


def test_a_refused_token_is_refreshed_once_then_the_refusal_explained(app, browser, mailbox_id, smtp_stand_in):
    server = smtp_stand_in(answers={"AUTH": ["535 5.7.3 Authentication unsuccessful [MW4PR03CA0001]"]})
    app.config.update(MICROSOFT_SMTP_HOST="127.0.0.1", MICROSOFT_SMTP_PORT=server.port, MICROSOFT_SMTP_SECURITY="none")
    outgoing_id = outgoing_id_of(send(browser, mailbox_id, to=ADELE))
    with app.app_context():
        grant_id = db.session.get(Mailbox, mailbox_id).grant_id
        refreshed_before = db.session.get(MicrosoftGrant, grant_id).refreshed_at

    run_queued(app)

    message = stored(app, outgoing_id)
    assert message.state == "failed" and message.error_code == "smtp_auth_failed"
    with app.app_context():
        assert db.session.get(MicrosoftGrant, grant_id).refreshed_at != refreshed_before
