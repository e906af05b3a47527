"""Sync now without JavaScript: a plain POST leads to the sync page, which reloads itself while the
pass waits or runs and shows the folder counts once it ended."""

import pytest
from playwright.sync_api import expect

from oroflask.database import utcnow
from oroflask.extensions import db
from oroflask.mailstore import store

from . import harness
from .test_sync import MAILBOX_PAGE, connected_mailbox, worker_writes


@pytest.fixture
def context_options():
    return {"java_script_enabled": False}


def test_sync_now_without_javascript_follows_the_pass_on_a_page_that_reloads_itself(browser, page, live):
    # Connecting needs the sign-in popup: done in a browser with JavaScript first.
    setup = browser.new_context()
    try:
        setup_page = setup.new_page()
        harness.sign_in(setup_page, live)
        mailbox_id = connected_mailbox(setup_page, live)
    finally:
        setup.close()
    harness.sign_in(page, live)
    page.goto(live.address(MAILBOX_PAGE))

    page.get_by_role("button", name="Sync now").click()

    expect(page).to_have_url(live.address(f"/mailboxes/{mailbox_id}/sync"))
    expect(page.locator("#sync-progress")).to_contain_text("waiting for the background worker")
    with live.app.app_context():
        store.folder(mailbox_id, "INBOX").message_count = 7
        db.session.commit()
    worker_writes(live, mailbox_id, running=False, started_at=utcnow(), succeeded_at=utcnow())
    expect(page.locator("#sync-folders")).to_have_text("Inbox: 7 messages")
    expect(page.locator("#sync-progress")).to_have_count(0)
    page.get_by_role("link", name="Back to the mailbox").click()
    expect(page).to_have_url(live.address(MAILBOX_PAGE))
