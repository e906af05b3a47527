"""Mail in Chromium: a hostile message runs nothing and loads no remote image until asked, paging
appends, and new mail comes in on top of the list without losing the rows More loaded."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from oroflask.auth.models import User
from oroflask.extensions import db
from oroflask.mail import service
from oroflask.mailboxes.models import PERSONAL, Mailbox
from oroflask.mailstore import search, store
from tests.mail.hostile import PIXEL, hostile_message
from tests.mailstore.conftest import ARRIVED, Fetched, mail

from .harness import ADMIN, sign_in

TRACKER = "https://tracker.example.net/"


@pytest.fixture
def live_options() -> dict:
    return {"MAIL_POLL_SECONDS": 1}


def store_mail(live, messages: list[tuple[int, bytes]]) -> None:
    """Store messages in the administrator's own mailbox (made on first use), a minute apart by UID."""
    with live.app.app_context():
        owner = db.session.execute(select(User).where(User.email == ADMIN)).scalar_one()
        mailbox = db.session.execute(select(Mailbox).where(Mailbox.owner_id == owner.id)).scalar_one_or_none()
        if mailbox is None:
            mailbox = Mailbox(kind=PERSONAL, owner_id=owner.id, address="adele@contoso.com", label="Adele Vance")
            db.session.add(mailbox)
            db.session.flush()
        folder = store.folder(mailbox.id, "INBOX")
        store.add_messages(
            folder, [Fetched(uid=uid, raw=raw, internaldate=ARRIVED + timedelta(minutes=uid)) for uid, raw in messages]
        )
        db.session.commit()
        search.index_pending()


@pytest.mark.every_width
def test_a_hostile_message_runs_nothing_and_its_remote_image_waits(page, live, check_accessibility):
    store_mail(live, [(1, hostile_message()), (2, mail("<b@x>", subject="Plain one"))])
    dialogs, requests = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.context.on("request", lambda request: requests.append(request.url))
    page.context.route(TRACKER + "**", lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL))
    sign_in(page, live)
    page.get_by_role("link", name="Mail", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mail")
    check_accessibility(page, "Mail")
    page.get_by_role("link", name="Your account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    body = page.frame_locator("iframe.mail-body")
    expect(body.get_by_text("Hello Adele")).to_be_visible()
    expect(body.get_by_role("img", name="logo")).to_be_visible()
    check_accessibility(page, "A conversation")
    assert any("/inline/logo@contoso" in url for url in requests)
    assert not [url for url in requests if url.startswith(TRACKER)]
    assert dialogs == []

    page.get_by_role("link", name="Show remote images").click()
    expect(body.get_by_role("img", name="tracker")).to_be_visible()
    assert [url for url in requests if url.startswith(TRACKER)] == [TRACKER + "open.png?u=adele"]
    expect(body.get_by_text("Hello Adele")).to_be_visible()
    assert dialogs == []


@pytest.mark.every_width
def test_new_mail_comes_in_on_top_and_the_rows_more_loaded_stay(page, live):
    count = service.PAGE_SIZE + 3
    store_mail(live, [(uid, mail(f"<m{uid}@x>", subject=f"Report {uid}")) for uid in range(1, count + 1)])
    sign_in(page, live)
    page.goto(live.address("/mail"))
    rows = page.locator(".conversation")
    expect(rows).to_have_count(service.PAGE_SIZE)
    page.get_by_role("link", name="More").click()
    expect(rows).to_have_count(count)
    assert page.url == live.address("/mail")
    expect(page.get_by_role("link", name="More")).to_have_count(0)

    # A new conversation, and a reply to one that only More showed: it moves to the top.
    store_mail(live, [
        (count + 1, mail("<new@x>", subject="Fresh arrival")),
        (count + 2, mail("<reply@x>", subject="Re: Report 2", in_reply_to="<m2@x>", references="<m2@x>")),
    ])
    expect(rows.first).to_contain_text("Re: Report 2", timeout=10_000)
    expect(rows.nth(1)).to_contain_text("Fresh arrival")
    expect(rows).to_have_count(count + 1)
    expect(rows.filter(has_text=re.compile(r"Report 2\b"))).to_have_count(1)
    expect(rows.last).to_contain_text("Report 1")
    expect(rows.filter(has_text=re.compile(r"Report 3\b"))).to_have_count(1)
    assert page.url == live.address("/mail")

    # Nothing newer: the next polls change nothing.
    page.wait_for_timeout(2_500)
    expect(rows).to_have_count(count + 1)
    expect(rows.first).to_contain_text("Re: Report 2")
