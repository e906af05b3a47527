"""Fixtures for Mail: a user's mailbox with stored mail, another user who may read none of it."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from oroflask.extensions import db
from oroflask.mailstore import search, store
from oroflask.mailstore.models import Message
from tests.conftest import make_user
from tests.mailboxes.conftest import signed_in
from tests.mailstore.conftest import ARRIVED, Fetched, mail, mailbox_id  # noqa: F401  (for the tests)

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
def browser(app, user):
    """Return the user's signed-in browser."""
    return signed_in(app, user)


@pytest.fixture
def other(app, admin):
    """Return the browser of another user, who may read no mailbox of the user's."""
    make_user(app, OTHER_EMAIL, "user")
    return signed_in(app, OTHER_EMAIL)

