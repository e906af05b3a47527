"""System mailboxes in Chromium: add one, connect it in the sign-in popup as a delegate, follow
the Check connection that connecting queued while the worker runs it, then choose its folders."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from oroflask.database import utcnow
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox

from .harness import ACCOUNT, connect
from .test_mailbox import LISTED

SALES = "sales@contoso.onmicrosoft.com"
# What the worker stores of a passed check (tests/mailboxes runs it against a real Dovecot).
PASSED = {
    "token_problem": None,
    "imap": {"protocol": "IMAP", "summary": "Signed in; 4 folders.", "problem": None},
    "smtp": {"protocol": "SMTP", "summary": "Signed in; nothing was sent.", "problem": None},
}


def stored(live) -> Mailbox | None:
    with live.app.app_context():
        mailbox = db.session.execute(select(Mailbox)).scalar_one_or_none()
        if mailbox is not None:
            db.session.expunge(mailbox)
        return mailbox


def finish_check(live) -> None:
    """Store a passed check of the mailbox, as the worker does when it has run it."""
    with live.app.app_context():
        db.session.execute(
            update(Mailbox).values(
                check_outcome="passed", check_results=PASSED, checked_at=utcnow(), listed_folders=LISTED
            )
        )
        db.session.commit()


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_add_a_system_mailbox_connect_it_as_a_delegate_and_choose_its_folders(admin_page, live, check_accessibility):
    page = admin_page
    connect(page)  # Enable: the gate opens
    page.get_by_role("link", name="System mailboxes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("System mailboxes")
    expect(page.locator("#no-mailboxes")).to_be_visible()
    check_accessibility(page, "System mailboxes, none yet")

    page.get_by_role("link", name="Add mailbox").click()
    page.get_by_label("Label").fill("Sales")
    page.get_by_label("Address").fill("not an address")
    page.get_by_role("button", name="Add mailbox").click()
    expect(page.locator("#address-error")).to_have_text("Enter a valid e-mail address.")
    check_accessibility(page, "Add mailbox, a refused address")
    page.get_by_label("Address").fill(SALES)
    page.get_by_role("button", name="Add mailbox").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sales")
    expect(page.locator("#mailbox-state")).to_have_text("Not connected.")

    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connect with Microsoft 365").click()
    opened.value.get_by_role("button", name="Accept").click()

    expect(page.locator("#mailbox .state-ok")).to_contain_text(
        f"signed in as {ACCOUNT}, a delegate of {SALES}", timeout=15_000
    )
    check_accessibility(page, "a system mailbox, connected")

    # Connecting queued Check connection: the page follows it with no click.
    expect(page.locator("#check-waiting")).to_be_visible()
    assert stored(live).check_outcome == "running"
    finish_check(live)
    expect(page.locator("#check-imap")).to_have_text("IMAP: Signed in; 4 folders.")
    expect(page.get_by_label("Inbox")).to_be_checked()
    page.get_by_label("Alpha").check()
    page.get_by_label("Sent Items").uncheck()
    page.get_by_role("button", name="Save folders").click()
    expect(page.locator(".flash-success")).to_have_text("The folders to sync are saved.")
    assert stored(live).folders == ["INBOX", "Projects/Alpha"]
    check_accessibility(page, "a system mailbox with its folders")

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="System mailboxes").click()
    row = page.locator("#system-mailboxes tbody tr")
    expect(row).to_contain_text("Sales")
    expect(row).to_contain_text(f"signed in as {ACCOUNT}, a delegate")
    expect(row).to_contain_text("Administrators")
    check_accessibility(page, "System mailboxes, one connected")
