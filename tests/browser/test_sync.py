"""A mailbox's sync in Chromium: Sync now, the panel following the pass with its progress bar, and
the folder counts once it ends. The worker's part is played by the test, as the worker would
write it: the tests in tests/sync run the real pass against Dovecot."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from oroflask.database import utcnow
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.mailstore import store
from oroflask.sync.engine import sync_state
from oroflask.worker import queue_of

from .harness import connect

MAILBOX_PAGE = "/account/mailbox"


def connected_mailbox(page, live) -> int:
    """Enable, connect the admin's own mailbox in the popup, choose its Inbox; return its id."""
    connect(page)
    page.goto(live.address(MAILBOX_PAGE))
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connect with Microsoft 365").click()
    opened.value.get_by_role("button", name="Accept").click()
    expect(page.locator("#mailbox .state-ok")).to_be_visible(timeout=15_000)
    with live.app.app_context():
        db.session.execute(update(Mailbox).values(folders=["INBOX"]))
        db.session.commit()
        return db.session.execute(select(Mailbox.id)).scalar_one()


def worker_writes(live, mailbox_id: int, **state) -> None:
    """Write the mailbox's sync state as the worker's pass does."""
    with live.app.app_context():
        row = sync_state(mailbox_id)
        for key, value in state.items():
            setattr(row, key, value)
        db.session.commit()


@pytest.mark.every_width
def test_sync_now_shows_the_progress_then_the_folder_counts(admin_page, live, check_accessibility):
    page = admin_page
    mailbox_id = connected_mailbox(page, live)
    page.reload()
    health = page.locator("#sync-health")
    expect(health.locator("#sync-last")).to_have_text("Last successful sync: never")
    expect(health.locator("#sync-folders")).to_have_text("Inbox: not synced yet")
    check_accessibility(page, "the sync panel of a mailbox never synced")

    page.get_by_role("button", name="Sync now").click()

    expect(health.locator("#sync-progress")).to_contain_text("waiting for the background worker")
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)
    with live.app.app_context():
        assert queue_of(live.app).huey.pending_count() == 1
    now = utcnow()
    worker_writes(live, mailbox_id, running=True, started_at=now, heartbeat_at=now, done=1200, total=3456)
    expect(health.locator("#sync-progress")).to_contain_text("Syncing: 1,200 of 3,456 messages")
    expect(health.locator("progress#sync-bar")).to_have_attribute("value", "1200")
    check_accessibility(page, "a sync under way")

    with live.app.app_context():
        folder = store.folder(mailbox_id, "INBOX")
        folder.message_count = 3456
        db.session.commit()
    worker_writes(live, mailbox_id, running=False, done=3456, succeeded_at=utcnow())

    expect(health.locator("#sync-folders")).to_have_text("Inbox: 3,456 messages")
    expect(health.locator("#sync-progress")).to_have_count(0)
    expect(page.get_by_role("button", name="Sync now")).to_be_visible()
    expect(health).not_to_have_attribute("hx-trigger", "every 1s")
    expect(health.locator("#sync-last")).not_to_contain_text("never")
    check_accessibility(page, "a sync ended")
