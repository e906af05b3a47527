"""A mailbox's sync health panel and Sync now: what the panel says for a fresh mailbox, after a
sync and after an explained failure; Sync now queued for the worker and followed until it ends,
with and without htmx; and who may see it."""

import re
from datetime import timedelta
from html import unescape

import pytest
import requests

from oroflask.connection.models import MicrosoftGrant
from oroflask.database import utcnow
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.failures import EXPLAINED
from oroflask.mailboxes import system_service
from oroflask.mailboxes.models import Mailbox
from oroflask.sync.engine import sync_state
from oroflask.worker import queue_of
from tests.conftest import ADMIN_EMAIL, USER_EMAIL, make_user
from tests.dovecot.fixtures import ALEX, revoke_token
from tests.mailboxes.conftest import MAILBOX_PAGE, htmx, run_queued, signed_in

from .test_engine import deliver, sync

OTHER_EMAIL = "other@example.com"


@pytest.fixture
def mail_server(dovecot):
    dovecot.empty(ALEX)
    return dovecot


def sync_page(mailbox_id: int) -> str:
    return f"/mailboxes/{mailbox_id}/sync"


def panel(browser, mailbox_id: int) -> str:
    """Return the health panel as htmx fetches it."""
    response = browser.get(sync_page(mailbox_id), headers=htmx(browser, MAILBOX_PAGE))
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    return response.get_data(as_text=True)


def text_of(html: str) -> str:
    """Return the words of some HTML, tags dropped and spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_fresh_mailbox_has_never_synced_and_offers_sync_now(app, mail_server, mailbox_id):
    html = panel(signed_in(app, USER_EMAIL), mailbox_id)

    words = text_of(html)
    assert "Last successful sync: never" in words
    assert "Inbox: not synced yet" in words
    assert "Push: off: the background worker is not watching this mailbox" in words
    assert "renewed automatically" in words
    assert 'id="sync-now"' in html and "hx-trigger" not in html


def test_after_a_sync_the_panel_counts_each_folders_messages(app, mail_server, mailbox_id):
    with app.app_context():
        db.session.get(Mailbox, mailbox_id).folders = ["INBOX", "Archive"]
        db.session.commit()
    deliver(mail_server, "One")
    deliver(mail_server, "Two")
    sync(app, mailbox_id)

    words = text_of(panel(signed_in(app, USER_EMAIL), mailbox_id))

    assert "Inbox: 2 messages" in words and "Archive: 0 messages" in words
    assert "Last successful sync: never" not in words and "Next sync: " in words
    assert "failed" not in words


def test_an_explained_failure_is_shown_with_its_cause_and_what_to_do(
    app, mail_server, mailbox_id, mail_identity_provider
):
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, db.session.get(Mailbox, mailbox_id).grant_id)
        access_token = decrypt(grant.access_token_encrypted)
    revoke_token(mail_identity_provider, access_token)
    requests.post(f"{mail_identity_provider}/_devidp/revoke", json={"email": ALEX}, timeout=10).raise_for_status()
    with pytest.raises(EXPLAINED):
        sync(app, mailbox_id)
    with app.app_context():
        state = sync_state(mailbox_id)
        title, action = state.error_title, state.error_action

    html = panel(signed_in(app, USER_EMAIL), mailbox_id)

    words = text_of(html)
    assert 'id="sync-error"' in html
    assert "The last sync failed" in words and text_of(title) in words and text_of(action) in words
    assert "Push: off until the mailbox is reconnected" in words
    assert access_token not in html


def test_sync_now_is_queued_and_the_panel_follows_it_until_it_ends(app, mail_server, mailbox_id):
    deliver(mail_server, "Synced now")
    browser = signed_in(app, USER_EMAIL)

    queued = browser.post(sync_page(mailbox_id) + "/now", headers=htmx(browser, MAILBOX_PAGE))

    assert queued.status_code == 200
    html = queued.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and "waiting for the background worker" in html
    assert 'id="sync-now"' not in html
    assert queue_of(app).huey.pending_count() == 1
    assert 'hx-trigger="every 1s"' in panel(browser, mailbox_id)
    assert run_queued(app) == 1
    finished = panel(browser, mailbox_id)
    assert "hx-trigger" not in finished, "the finished sync still polls"
    assert "Inbox: 1 message" in text_of(finished) and 'id="sync-now"' in finished


def test_a_running_pass_shows_its_progress(app, mail_server, mailbox_id):
    with app.app_context():
        state = sync_state(mailbox_id)
        state.running, state.heartbeat_at, state.started_at = True, utcnow(), utcnow()
        state.done, state.total = 1200, 3456
        db.session.commit()
    browser = signed_in(app, USER_EMAIL)

    html = panel(browser, mailbox_id)

    assert "Syncing: 1,200 of 3,456 messages" in text_of(html)
    assert '<progress id="sync-bar" max="3456" value="1200">' in html
    assert 'hx-trigger="every 1s"' in html
    # Sync now while a pass runs queues nothing: the panel follows the running pass.
    browser.post(sync_page(mailbox_id) + "/now", headers=htmx(browser, MAILBOX_PAGE))
    assert queue_of(app).huey.pending_count() == 0


def test_a_sync_now_the_worker_never_starts_says_so_and_stops_polling(app, mail_server, mailbox_id):
    with app.app_context():
        sync_state(mailbox_id).requested_at = utcnow() - timedelta(minutes=3)
        db.session.commit()

    html = panel(signed_in(app, USER_EMAIL), mailbox_id)

    assert "The sync has not started after two minutes." in text_of(html)
    assert "hx-trigger" not in html and 'id="sync-now"' in html


def test_sync_now_without_javascript_goes_to_a_page_that_refreshes_itself(app, mail_server, mailbox_id):
    deliver(mail_server, "Without JavaScript")
    browser = signed_in(app, USER_EMAIL)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(MAILBOX_PAGE).get_data(as_text=True))[1]

    posted = browser.post(sync_page(mailbox_id) + "/now", data={"csrf_token": token})

    assert posted.status_code == 303 and posted.headers["Location"] == sync_page(mailbox_id)
    waiting = browser.get(sync_page(mailbox_id)).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in waiting and 'href="/account/mailbox"' in waiting
    run_queued(app)
    done = browser.get(sync_page(mailbox_id)).get_data(as_text=True)
    assert "http-equiv=\"refresh\"" not in done and "Inbox: 1 message" in text_of(done)


def test_sync_now_without_its_csrf_token_queues_nothing(app, mail_server, mailbox_id):
    browser = signed_in(app, USER_EMAIL)

    browser.post(sync_page(mailbox_id) + "/now")

    assert queue_of(app).huey.pending_count() == 0


def test_the_mailbox_page_shows_the_panel(app, mail_server, mailbox_id):
    html = signed_in(app, USER_EMAIL).get(MAILBOX_PAGE).get_data(as_text=True)

    assert 'id="sync-health"' in html and "Last successful sync" in html


def test_only_the_owner_sees_a_personal_mailboxs_sync_and_an_admin_any_system_mailboxs(app, mail_server, mailbox_id):
    make_user(app, OTHER_EMAIL, "user")
    other, admin = signed_in(app, OTHER_EMAIL), signed_in(app, ADMIN_EMAIL)
    for browser in (other, admin):
        assert browser.get(sync_page(mailbox_id)).status_code == 404
        posted = browser.post(sync_page(mailbox_id) + "/now", headers=htmx(browser, "/account"))
        assert posted.status_code == 404
    assert queue_of(app).huey.pending_count() == 0
    assert other.get(sync_page(999)).status_code == 404
    with app.app_context():
        system = system_service.add(None, "Sales", "sales@contoso.onmicrosoft.com")
        system_id = system.id
    assert admin.get(sync_page(system_id)).status_code == 200
    assert other.get(sync_page(system_id)).status_code == 404
    assert signed_in(app, USER_EMAIL).get(sync_page(system_id)).status_code == 404
    listed = admin.get("/admin/config/email/mailboxes").get_data(as_text=True)
    assert "Last sync" in listed and 'class="mailbox-synced"' in listed


def test_the_token_line_tells_an_expired_token_that_is_renewed_when_used(app, mail_server, mailbox_id):
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, db.session.get(Mailbox, mailbox_id).grant_id)
        grant.access_token_expires_at = utcnow() - timedelta(hours=1)
        db.session.commit()

    words = text_of(panel(signed_in(app, USER_EMAIL), mailbox_id))

    assert "Access token: expired at " in words and "renewed automatically" in words
