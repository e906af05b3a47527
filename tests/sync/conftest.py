"""Fixtures for the sync engine: a user's mailbox connected as Alex through the local identity
provider, synced against the Exchange-like Dovecot and the one that advertises CONDSTORE."""

import pytest
from sqlalchemy import select

from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from tests.dovecot.fixtures import ALEX, identity_provider_settings, mail_server_settings
from tests.mailboxes.conftest import PUBLIC_URL, connect, enabled, signed_in  # noqa: F401  (enabled: a fixture)
from tests.mailservers.conftest import imap_stand_in  # noqa: F401


@pytest.fixture(params=["dovecot", "dovecot_condstore"])
def mail_server(request):
    """Each test runs against the Exchange-like Dovecot and the one with CONDSTORE; Alex's mailbox starts empty."""
    server = request.getfixturevalue(request.param)
    server.empty(ALEX)
    return server


@pytest.fixture
def config(config, request, mail_identity_provider):
    """Sign in at the local identity provider; read mail from the test's Dovecot."""
    config.update(identity_provider_settings(mail_identity_provider, (2, 5)), PUBLIC_URL=PUBLIC_URL)
    if "mail_server" in request.fixturenames:
        config.update(mail_server_settings(request.getfixturevalue("mail_server")))
    return config


@pytest.fixture
def mailbox_id(app, enabled, user, mail_identity_provider) -> int:  # noqa: F811
    """Connect the user's mailbox as Alex, choose the Inbox, sync everything; return its id."""
    browser = signed_in(app, user)
    assert connect(browser, mail_identity_provider, ALEX).status_code == 200
    with app.app_context():
        mailbox = db.session.execute(select(Mailbox).where(Mailbox.address == ALEX)).scalar_one()
        mailbox.folders = ["INBOX"]
        mailbox.sync_from = None
        db.session.commit()
        return mailbox.id
