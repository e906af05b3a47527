"""My mailbox in Chromium: connect through the sign-in popup, then choose the folders to sync."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox

from .harness import ACCOUNT, connect

MAILBOX_PAGE = "/account/mailbox"
# As Check connection stores what Exchange lists (checked against a real Dovecot in tests/mailboxes).
LISTED = [
    {"name": "INBOX", "delimiter": "/", "special": "inbox", "selectable": True},
    {"name": "Sent Items", "delimiter": "/", "special": "sent", "selectable": True},
    {"name": "Projects", "delimiter": "/", "special": None, "selectable": False},
    {"name": "Projects/Alpha", "delimiter": "/", "special": None, "selectable": True},
]


def stored(live) -> Mailbox | None:
    with live.app.app_context():
        mailbox = db.session.execute(select(Mailbox)).scalar_one_or_none()
        if mailbox is not None:
            db.session.expunge(mailbox)
        return mailbox


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_connect_a_mailbox_in_the_popup_then_choose_its_folders(admin_page, live, check_accessibility):
    page = admin_page
    connect(page)  # Enable: the gate opens
    page.get_by_role("link", name="My mailbox").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My mailbox")
    check_accessibility(page, "My mailbox, not connected")

    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connect with Microsoft 365").click()
    opened.value.get_by_role("button", name="Accept").click()

    expect(page.locator("#mailbox .state-ok")).to_contain_text(f"Connected as {ACCOUNT}", timeout=15_000)
    assert stored(live).address == ACCOUNT
    check_accessibility(page, "My mailbox, connected")

    with live.app.app_context():
        db.session.execute(update(Mailbox).values(listed_folders=LISTED))
        db.session.commit()
    page.reload()
    expect(page.get_by_label("Inbox")).to_be_checked()
    expect(page.get_by_label("Sent Items")).to_be_checked()
    expect(page.get_by_label("Projects (holds only folders)")).to_be_disabled()
    page.get_by_label("Alpha").check()
    page.get_by_label("Sent Items").uncheck()
    page.get_by_label("Sync from").fill("2999-01-01")
    page.get_by_role("button", name="Save folders").click()
    expect(page.locator("#sync_from-error")).to_have_text("The day to sync from cannot be in the future.")
    expect(page.get_by_label("Sync from")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Alpha")).to_be_checked()
    assert stored(live).folders is None
    check_accessibility(page, "a refused day")

    page.get_by_label("Everything").check()
    page.get_by_role("button", name="Save folders").click()
    expect(page.locator(".flash-success")).to_have_text("The folders to sync are saved.")
    mailbox = stored(live)
    assert mailbox.folders == ["INBOX", "Projects/Alpha"] and mailbox.sync_from is None
