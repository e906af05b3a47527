"""Fixtures for Mail: a user's mailbox with stored mail, another user who may read none of it."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from oroflask.auth.models import User
from oroflask.extensions import db
from oroflask.mailboxes.models import PERSONAL, Mailbox
from oroflask.mailstore import search, store
from oroflask.mailstore.models import Message
from tests.conftest import USER_EMAIL, make_user
from tests.mailboxes.conftest import signed_in
from tests.mailstore.conftest import ARRIVED, Fetched, mail  # noqa: F401  (mail: for the tests)

OTHER_EMAIL = "other@example.com"


def add(app, mailbox_id: int, messages: list[tuple[int, bytes]], *, folder: str = "INBOX", flags=()) -> list[int]:
    """Store raw messages under these UIDs, a minute apart by UID, index them; return their ids."""
    with app.app_context():
        found = store.folder(mailbox_id, folder)
        store.add_messages(
            found,
            [
                Fetched(uid=uid, raw=raw, flags=tuple(flags), internaldate=ARRIVED + timedelta(minutes=uid))
                for uid, raw in messages
            ],
        )
        db.session.commit()
        search.index_pending()
        return list(
            db.session.execute(
                select(Message.id)
                .where(Message.folder_id == found.id, Message.uid.in_([uid for uid, _ in messages]))
                .order_by(Message.uid)
            ).scalars()
        )


@pytest.fixture
def mailbox_id(app, user) -> int:
    """Return the id of the user's personal mailbox (not connected: the store is filled directly)."""
    with app.app_context():
        owner = db.session.execute(select(User).where(User.email == USER_EMAIL)).scalar_one()
        mailbox = Mailbox(kind=PERSONAL, owner_id=owner.id, address="adele@contoso.com", label="Adele Vance")
        db.session.add(mailbox)
        db.session.commit()
        return mailbox.id


@pytest.fixture
def browser(app, user):
    """Return the user's signed-in browser."""
    return signed_in(app, user)


@pytest.fixture
def other(app, admin):
    """Return the browser of another user, who may read no mailbox of the user's."""
    make_user(app, OTHER_EMAIL, "user")
    return signed_in(app, OTHER_EMAIL)

