"""Fixtures for My mailbox: the app signing in at the local identity provider (and checking mail
at the test Dovecot when a test asks for it), admins enabling the site, users connecting."""

import json
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from oroflask.auth.models import User
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.worker import queue_of
from tests.conftest import csrf_token, sign_in
from tests.dovecot.fixtures import identity_provider_settings, mail_server_settings

MAILBOX_PAGE = "/account/mailbox"
SETTINGS_PAGE = "/admin/config/integrations/microsoft"
# A Redirect URI that the identity provider of the mail tests has registered.
PUBLIC_URL = "http://localhost:5000"


@pytest.fixture
def config(config, request, mail_identity_provider):
    """Sign in at the local identity provider; reach the test's Dovecot when the test uses it."""
    config.update(identity_provider_settings(mail_identity_provider, (2, 5)), PUBLIC_URL=PUBLIC_URL)
    if "dovecot" in request.fixturenames:
        config.update(mail_server_settings(request.getfixturevalue("dovecot")))
    return config


def htmx(client, page: str) -> dict:
    """Return the headers htmx sends from `page`."""
    return {"HX-Request": "true", "HX-Current-URL": "http://localhost" + page, "X-CSRFToken": csrf_token(client, page)}


def authorize(
    client, identity_provider: str, start: str, page: str, email: str, data: dict | None = None, action: str = "accept"
):
    """Click a sign-in button of `page` (Enable, Connect), sign in at the identity provider as
    `email` in the popup (or cancel there: `action`), and return the callback's response."""
    started = client.post(start, data=data or {}, headers=htmx(client, page))
    assert started.status_code == 200, started.get_data(as_text=True)
    popup = json.loads(started.headers["HX-Trigger"])["authorization-started"]
    opened = client.get(popup["url"])
    assert opened.status_code == 302, opened.get_data(as_text=True)
    answer = requests.post(
        f"{identity_provider}/_devidp/approve",
        json={"authorize_url": opened.headers["Location"], "email": email, "action": action},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    location = urlsplit(answer.json()["location"])
    return client.get(f"{location.path}?{location.query}")


def enable(client, identity_provider: str, email: str):
    """Click Enable on Microsoft Settings and sign in as `email`: mailboxes may be connected then."""
    response = authorize(client, identity_provider, SETTINGS_PAGE + "/authorization", SETTINGS_PAGE, email)
    assert response.status_code == 200, response.get_data(as_text=True)


def connect(client, identity_provider: str, email: str, replace: bool = False, action: str = "accept"):
    """Click Connect (or Reconnect) on My mailbox and sign in as `email`; return the callback's response."""
    data = {"replace": "1"} if replace else None
    return authorize(client, identity_provider, MAILBOX_PAGE + "/connect", MAILBOX_PAGE, email, data, action)


def run_queued(app) -> int:
    """Run the tasks waiting on the application's queue here, as the worker would; return how many ran."""
    huey = queue_of(app).huey
    ran = 0
    while (queued := huey.dequeue()) is not None:
        huey.execute(queued)
        ran += 1
    return ran


def check(app, browser, page: str = MAILBOX_PAGE) -> str:
    """Click Check connection on `page`, let the worker run it, and return the panel the poll then shows."""
    queued = browser.post(page + "/check", headers=htmx(browser, page))
    assert queued.status_code == 200, queued.get_data(as_text=True)
    assert 'id="check-waiting"' in queued.get_data(as_text=True)
    return finished_check(app, browser, page)


def finished_check(app, browser, page: str) -> str:
    """Let the worker run the queued check of `page` and return the panel the poll then shows."""
    assert run_queued(app) == 1
    panel = browser.get(page, headers=htmx(browser, page))
    assert panel.status_code == 200
    text = panel.get_data(as_text=True)
    assert "hx-trigger" not in text, "the finished check still polls"
    return text


def signed_in(app, email: str):
    """Return a new browser signed in as `email`."""
    browser = app.test_client()
    assert sign_in(browser, email).status_code == 302
    return browser


def stored_mailbox(app, email: str) -> Mailbox | None:
    """Return the personal mailbox of the account `email`, detached, or None."""
    with app.app_context():
        owner = db.session.execute(select(User).where(User.email == email)).scalar_one()
        mailbox = db.session.execute(select(Mailbox).where(Mailbox.owner_id == owner.id)).scalar_one_or_none()
        if mailbox is not None:
            db.session.expunge(mailbox)
        return mailbox


@pytest.fixture
def enabled(app, admin, mail_identity_provider):
    """Enable the site as its admin, signed in at Microsoft as Adele; return the admin's browser."""
    browser = signed_in(app, admin)
    enable(browser, mail_identity_provider, "adele@contoso.onmicrosoft.com")
    return browser
