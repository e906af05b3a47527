"""Check connection against the real Dovecot, whose sign-ins the local identity provider decides:
folders listed and chosen, IMAP refused for a mailbox with IMAP off, a revoked token explained."""

from datetime import date, timedelta

import pytest
from sqlalchemy import update

from oroflask.connection.models import MAILBOX, MicrosoftGrant
from oroflask.database import utcnow
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from tests.conftest import csrf_token, element
from tests.dovecot.fixtures import revoke_token

from .conftest import MAILBOX_PAGE, check, connect, htmx, run_queued, signed_in, stored_mailbox

ALEX = "alex@contoso.onmicrosoft.com"
LEE = "lee@contoso.onmicrosoft.com"


@pytest.fixture
def connected(app, enabled, user, mail_identity_provider):
    """Return a function that connects the user's mailbox as `email` and returns their browser."""

    def connect_as(email: str):
        browser = signed_in(app, user)
        assert connect(browser, mail_identity_provider, email).status_code == 200
        return browser

    return connect_as


def test_check_lists_the_folders_and_the_chosen_ones_are_saved(app, dovecot, connected, user):
    browser = connected(ALEX)

    panel = check(app, browser)

    assert "<strong>IMAP:</strong> Signed in; 6 folders." in panel
    assert "<strong>SMTP:</strong> Signed in; nothing was sent." in panel
    ticked = {
        name: "checked" in (element(panel, f"folder-{number}") or {})
        for number, name in enumerate(("INBOX", "Archive", "Deleted Items", "Drafts", "Junk Email", "Sent Items"), 1)
    }
    assert [element(panel, f"folder-{number}")["value"] for number in range(1, 7)] == list(ticked)
    assert ticked == {
        "INBOX": True, "Archive": False, "Deleted Items": False, "Drafts": False, "Junk Email": False, "Sent Items": True
    }
    default_day = (date.today() - timedelta(days=30)).isoformat()
    assert element(panel, "sync_from")["value"] == default_day

    saved = browser.post(
        MAILBOX_PAGE + "/folders",
        data={"csrf_token": csrf_token(browser, MAILBOX_PAGE), "folders": ["INBOX", "Archive"], "sync": "date",
              "sync_from": "2026-01-15"},
    )

    assert saved.status_code == 302
    mailbox = stored_mailbox(app, user)
    assert mailbox.folders == ["INBOX", "Archive"] and mailbox.sync_from == date(2026, 1, 15)
    assert mailbox.check_outcome == "passed"
    page = browser.get(MAILBOX_PAGE).get_data(as_text=True)
    assert "checked" in element(page, "folder-2") and "checked" not in element(page, "folder-6")

    everything = browser.post(
        MAILBOX_PAGE + "/folders",
        data={"csrf_token": csrf_token(browser, MAILBOX_PAGE), "folders": ["Sent Items"], "sync": "everything",
              "sync_from": ""},
    )
    assert everything.status_code == 302
    mailbox = stored_mailbox(app, user)
    assert mailbox.folders == ["Sent Items"] and mailbox.sync_from is None


def test_imap_off_for_the_mailbox_is_explained_and_smtp_still_checked(app, dovecot, connected):
    browser = connected(LEE)

    panel = check(app, browser)

    assert f"IMAP: The IMAP server refused the sign-in to {LEE}." in panel
    assert f"Set-CASMailbox -Identity {LEE} -ImapEnabled $true" in panel
    assert "The server said: <code>" in panel
    assert "<strong>SMTP:</strong> Signed in; nothing was sent." in panel
    assert 'name="folders"' not in panel


def test_a_revoked_token_is_explained(app, dovecot, connected, user, mail_identity_provider):
    browser = connected(ALEX)
    with app.app_context():
        grant = db.session.execute(
            db.select(MicrosoftGrant).where(MicrosoftGrant.purpose == MAILBOX)
        ).scalar_one()
        revoke_token(mail_identity_provider, decrypt(grant.access_token_encrypted))

    panel = check(app, browser)

    assert f"IMAP: The IMAP server refused the sign-in to {ALEX}." in panel
    assert f"SMTP: The SMTP server refused the sign-in for {ALEX}." in panel
    assert stored_mailbox(app, user).check_outcome == "failed"


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"folders": [], "sync": "date", "sync_from": "2026-01-01"}, "folders", "Choose at least one folder."),
        ({"folders": ["Nowhere"], "sync": "date", "sync_from": "2026-01-01"}, "folders", "cannot be synced"),
        ({"folders": ["INBOX"], "sync": "date", "sync_from": "2999-01-01"}, "sync_from", "cannot be in the future"),
        ({"folders": ["INBOX"], "sync": "date", "sync_from": "15/01/2026"}, "sync_from", "Not a valid date"),
        ({"folders": ["INBOX"], "sync": "date", "sync_from": ""}, "sync_from", "Enter the day to sync from"),
        ({"folders": ["INBOX"], "sync": "sometimes", "sync_from": ""}, "sync", "Not a valid choice"),
    ],
)
def test_bad_folder_input_is_shown_beside_its_field_and_nothing_is_saved(
    app, enabled, user, mail_identity_provider, fields, field, message
):
    browser = signed_in(app, user)
    connect(browser, mail_identity_provider, ALEX)
    listed = [
        {"name": "INBOX", "delimiter": "/", "special": "inbox", "selectable": True},
        {"name": "Projects", "delimiter": "/", "special": None, "selectable": False},
        {"name": "Projects/Alpha", "delimiter": "/", "special": None, "selectable": True},
    ]
    with app.app_context():
        db.session.execute(update(Mailbox).values(listed_folders=listed, folders=["Projects/Alpha"]))
        db.session.commit()

    answer = browser.post(
        MAILBOX_PAGE + "/folders", data={**fields}, headers=htmx(browser, MAILBOX_PAGE)
    )

    assert answer.status_code == 422
    panel = answer.get_data(as_text=True)
    error = element(panel, f"{field}-error")
    assert error is not None
    assert message in panel.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    mailbox = stored_mailbox(app, user)
    assert mailbox.folders == ["Projects/Alpha"] and mailbox.sync_from is None
    # A folder that only holds others cannot be ticked.
    assert "disabled" in element(panel, "folder-2")


def test_without_javascript_the_page_reloads_until_the_worker_checked(app, dovecot, connected):
    browser = connected(ALEX)

    queued = browser.post(MAILBOX_PAGE + "/check", data={"csrf_token": csrf_token(browser, MAILBOX_PAGE)})

    assert queued.status_code == 303 and queued.headers["Location"] == MAILBOX_PAGE
    waiting = browser.get(MAILBOX_PAGE).get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in waiting
    assert "Checking IMAP and SMTP" in waiting
    assert run_queued(app) == 1
    done = browser.get(MAILBOX_PAGE).get_data(as_text=True)
    assert "http-equiv" not in done and "<strong>IMAP:</strong> Signed in; 6 folders." in done


def test_a_check_the_worker_never_ran_says_so_and_stops_polling(app, connected, user):
    browser = connected(ALEX)
    browser.post(MAILBOX_PAGE + "/check", headers=htmx(browser, MAILBOX_PAGE))
    with app.app_context():
        db.session.execute(update(Mailbox).values(checked_at=utcnow() - timedelta(minutes=3)))
        db.session.commit()

    panel = browser.get(MAILBOX_PAGE, headers=htmx(browser, MAILBOX_PAGE)).get_data(as_text=True)

    assert "The check has not finished after two minutes." in panel and "mail-worker" in panel
    assert "hx-trigger" not in panel
    assert stored_mailbox(app, user).check_outcome == "running"
