"""The list of conversations: newest first, marks, paging that appends, the picker, the poll."""

import re

from oroflask.mail import service
from tests.mail.conftest import add, mail


def ids_in(page: str) -> list[str]:
    return re.findall(r'id="conversation-(\d+)"', page)


def test_the_list_shows_conversations_newest_first_with_their_marks(app, browser, mailbox_id):
    add(app, mailbox_id, [(1, mail("<a@x>", subject="Older news"))], flags=("\\Seen",))
    add(app, mailbox_id, [(2, mail("<b@x>", subject="Budget", body="See the budget."))], flags=("\\Flagged",))
    page = browser.get("/mail").get_data(as_text=True)
    assert page.index("Budget") < page.index("Older news")
    budget = page[page.index("Budget") - 900 : page.index("Budget")]
    assert 'class="conversation unread"' in budget and "mark-flag" in budget
    assert "See the budget." in page and "Alex Wilber" in page
    assert 'href="/mail"' in browser.get("/account/mailbox").get_data(as_text=True)


def test_paging_appends_the_next_page_with_htmx_and_links_it_without(app, browser, mailbox_id):
    count = service.PAGE_SIZE + 5
    add(app, mailbox_id, [(uid, mail(f"<m{uid}@x>", subject=f"Report {uid}")) for uid in range(1, count + 1)])
    first = browser.get("/mail").get_data(as_text=True)
    assert len(ids_in(first)) == service.PAGE_SIZE
    more = re.search(r'hx-get="([^"]+after=[^"]+)"', first)[1].replace("&amp;", "&")
    plain = browser.get(more).get_data(as_text=True)
    assert "<html" in plain and len(ids_in(plain)) == 5
    appended = browser.get(more, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in appended and len(ids_in(appended)) == 5
    assert set(ids_in(appended)).isdisjoint(ids_in(first))
    assert browser.get("/mail?after=nonsense").status_code == 200


def test_the_picker_shows_one_folder_and_an_unsynced_mailbox_says_so(app, browser, mailbox_id):
    add(app, mailbox_id, [(1, mail("<a@x>", subject="In the inbox"))])
    add(app, mailbox_id, [(1, mail("<b@x>", subject="Archived one"))], folder="Archive")
    with app.app_context():
        from oroflask.mailstore.store import folder_counts

        assert set(folder_counts(mailbox_id)) == {"INBOX", "Archive"}
    page = browser.get("/mail").get_data(as_text=True)
    archive = re.search(r'href="(/mail\?mailbox=\d+&amp;folder=\d+)">Archive', page)[1].replace("&amp;", "&")
    shown = browser.get(archive).get_data(as_text=True)
    assert "Archived one" in shown and "In the inbox" not in shown


def test_a_mailbox_without_synced_mail_links_its_page(browser, mailbox_id):
    page = browser.get("/mail").get_data(as_text=True)
    assert "Nothing synced yet." in page and 'href="/account/mailbox"' in page


def poll_of(page: str) -> str:
    return re.search(r'hx-get="(/mail/poll[^"]*)"', page)[1].replace("&amp;", "&")


def test_the_poll_answers_204_until_new_mail_arrives_then_only_the_rows_for_the_top(app, browser, mailbox_id):
    add(app, mailbox_id, [(1, mail("<a@x>", subject="First")), (2, mail("<b@x>", subject="Second"))])
    poll = poll_of(browser.get("/mail").get_data(as_text=True))
    headers = {"HX-Request": "true"}
    assert browser.get(poll, headers=headers).status_code == 204
    add(app, mailbox_id, [
        (3, mail("<c@x>", subject="Third")),
        (4, mail("<d@x>", subject="Re: First", in_reply_to="<a@x>", references="<a@x>")),
    ])
    fresh = browser.get(poll, headers=headers)
    text = fresh.get_data(as_text=True)
    assert fresh.status_code == 200
    assert 'hx-swap-oob="afterbegin:#conversations"' in text
    # The conversation of First moved to the top, Third is new; Second did not change.
    assert "Re: First" in text and "Third" in text and "Second" not in text
    first_page = browser.get("/mail").get_data(as_text=True)
    assert ids_in(text) == ids_in(first_page)[:2]
    next_poll = poll_of(text)
    assert next_poll != poll and browser.get(next_poll, headers=headers).status_code == 204


def test_an_empty_list_says_so_until_its_poll_brings_the_first_mail(app, browser, mailbox_id):
    page = browser.get("/mail").get_data(as_text=True)
    assert 'id="no-conversations"' in page
    add(app, mailbox_id, [(1, mail("<a@x>", subject="First"))])
    fresh = browser.get(poll_of(page), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "First" in fresh and 'id="no-conversations"' not in fresh


def test_more_than_a_page_of_new_conversations_shows_the_list_afresh(app, browser, mailbox_id):
    add(app, mailbox_id, [(1, mail("<a@x>", subject="First"))])
    poll = poll_of(browser.get("/mail").get_data(as_text=True))
    add(app, mailbox_id, [(uid, mail(f"<m{uid}@x>", subject=f"Report {uid}")) for uid in range(2, service.PAGE_SIZE + 3)])
    fresh = browser.get(poll, headers={"HX-Request": "true"})
    assert fresh.headers["HX-Retarget"] == "#mail-list" and fresh.headers["HX-Reswap"] == "outerHTML"
    text = fresh.get_data(as_text=True)
    assert len(ids_in(text)) == service.PAGE_SIZE and 'id="more"' in text and "hx-swap-oob" not in text


def test_new_message_links_compose(browser, mailbox_id):
    page = browser.get("/mail").get_data(as_text=True)
    assert 'href="/mail/compose">New message</a>' in page
    compose = browser.get("/mail/compose")
    assert compose.status_code == 200
