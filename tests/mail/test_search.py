"""Search with the database's own full-text engine (FTS5 on SQLite, tsvector on PostgreSQL): words as
prefixes, phrases, fields, body text of plain and HTML parts, stray syntax, highlighting."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from oroflask.extensions import db
from oroflask.mail import tasks
from oroflask.mailstore import search, store
from oroflask.worker import queue_of
from tests.mail.conftest import add, mail
from tests.mailstore.conftest import fetched

HTML_MAIL = (
    b"From: Lee Gu <lee@contoso.com>\r\nTo: Adele Vance <adele@contoso.com>\r\nSubject: Dinner\r\n"
    b"Message-ID: <html@x>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><head><style>p{color:red}</style></head><body><p>The <b>pineapple</b> pizza is ready.</p></body></html>\r\n"
)


@pytest.fixture
def stored(app, mailbox_id):
    add(app, mailbox_id, [
        (1, mail("<a@x>", subject="Quarterly figures", body="The revenue grew in Lisbon.")),
        (2, mail("<b@x>", subject="Lunch on Friday", body="Shall we try the new place?",
                 sender="Megan Bowen <megan@contoso.com>")),
        (3, HTML_MAIL),
        (4, mail("<c@x>", subject="Figures again", body="Lisbon revenue grew again, and the figures too.")),
    ])


def found(browser, query: str) -> str:
    response = browser.get("/mail", query_string={"q": query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "expected", "absent"),
    [
        ("revenue", ["Quarterly figures", "Figures again"], ["Lunch on Friday", "Dinner"]),
        ("reven", ["Quarterly figures"], ["Dinner"]),
        ('"revenue grew in"', ["Quarterly figures"], ["Figures again"]),
        ("from:megan", ["Lunch on Friday"], ["Quarterly figures"]),
        ("from:megan@contoso.com", ["Lunch on Friday"], ["Dinner"]),
        ("subject:figures", ["Quarterly figures", "Figures again"], ["Lunch on Friday"]),
        ("to:adele pineapple", ["Dinner"], ["Lunch on Friday"]),
        ("pineapple", ["Dinner"], ["Quarterly figures"]),
        ("color", [], ["Dinner"]),
    ],
)
def test_search_finds_by_words_prefixes_phrases_and_fields(browser, stored, query, expected, absent):
    page = found(browser, query)
    for subject in expected:
        assert subject.split()[0] in page, subject
    for subject in absent:
        assert f">{subject}<" not in page.replace("<mark>", "").replace("</mark>", ""), subject


@pytest.mark.parametrize(
    "query", ['"', 'revenue"', "AND OR NOT", "NEAR(a b)", "*", "re:", "{subject}:x", "'; DROP", "\x00"]
)
def test_stray_syntax_is_only_text(browser, stored, query):
    assert browser.get("/mail", query_string={"q": query}).status_code == 200


def test_matches_are_marked_after_escaping(app, browser, mailbox_id):
    add(app, mailbox_id, [(1, mail("<a@x>", subject="<b>Bold</b> revenue", body="revenue & more"))])
    page = found(browser, "revenue")
    assert "&lt;b&gt;Bold&lt;/b&gt; <mark>revenue</mark>" in page
    assert "<mark>revenue</mark> &amp; more" in page


def test_the_query_becomes_safe_terms():
    assert search.parse_query('from:Alex "budget  plan" re:x wh*') == [
        search.Term(("alex",), "sender"),
        search.Term(("budget", "plan"), None, True),
        search.Term(("re", "x"), None, True),
        search.Term(("wh",)),
    ]


def test_a_removed_message_is_never_found_even_before_the_next_indexing(app, browser, mailbox_id):
    first, = add(app, mailbox_id, [(1, mail("<a@x>", subject="Ephemeral", body="zeppelin"))])
    assert "Ephemeral" in found(browser, "zeppelin")
    with app.app_context():
        store.remove_messages(store.folder(mailbox_id, "INBOX"), [1])
        db.session.commit()
        assert index_rows(first) == 0
    assert "Ephemeral" not in found(browser, "zeppelin")
    # SQLite gives the next message the removed one's id: it is indexed by its own words.
    add(app, mailbox_id, [(2, mail("<b@x>", subject="Lasting", body="hovercraft"))])
    assert "No message matches" in found(browser, "zeppelin")
    assert "Lasting" in found(browser, "hovercraft")


def index_rows(message_id: int) -> int:
    """Return how many rows of the full-text index belong to this message id."""
    key = "rowid" if db.engine.dialect.name == "sqlite" else "message_id"
    return db.session.execute(
        text(f"SELECT count(*) FROM message_search WHERE {key} = :id"), {"id": message_id}
    ).scalar_one()


def test_the_worker_indexes_new_mail_every_minute(app, browser, mailbox_id):
    with app.app_context():
        store.add_messages(store.folder(mailbox_id, "INBOX"), [fetched(1, mail("<a@x>", body="zeppelin"))])
        db.session.commit()
    assert "No message matches" in found(browser, "zeppelin")
    moment = datetime(2026, 12, 2, 10, 7, tzinfo=timezone.utc)
    assert tasks.index_new_mail.name in [task.name for task in queue_of(app).huey.read_periodic(moment)]
    with app.app_context():
        tasks.index_new_mail()
    assert "Quarterly figures" in found(browser, "zeppelin")
