"""Fixtures for sending: the mail tests' configuration (the local identity provider, the test
Dovecot's IMAP and submission), a user whose mailbox is connected as Alex, and tokens."""

import pytest
from sqlalchemy import select

from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from tests.dovecot.fixtures import ALEX
from tests.mailboxes.conftest import config, connect, enabled, signed_in  # noqa: F401  (fixtures)
from tests.mailservers.conftest import smtp_stand_in, token_for  # noqa: F401  (fixtures)


@pytest.fixture
def browser(app, enabled, user, mail_identity_provider, dovecot):  # noqa: F811
    """Return the browser of a user whose mailbox is connected as Alex; Alex's and Adele's Inboxes start empty."""
    dovecot.empty(ALEX)
    dovecot.empty("adele@contoso.onmicrosoft.com")
    client = signed_in(app, user)
    assert connect(client, mail_identity_provider, ALEX).status_code == 200
    return client


@pytest.fixture
def mailbox_id(app, browser) -> int:
    """Return the id of the user's mailbox, connected as Alex."""
    with app.app_context():
        return db.session.execute(select(Mailbox.id).where(Mailbox.address == ALEX)).scalar_one()
