"""Two administrators demoting each other at once still leave one: on PostgreSQL the active
administrators' rows are locked before they are counted."""

import threading
import time

import pytest

from oroflask.auth.models import User
from oroflask.auth.service import AccountError
from oroflask.extensions import db
from oroflask.users import service

from ..conftest import ADMIN_EMAIL, TEST_DATABASE_URL, make_user

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="row locks need PostgreSQL (OROFLASK_TEST_DATABASE_URL)")


def account_id(email: str) -> int:
    return db.session.execute(db.select(User.id).filter_by(email=email)).scalar_one()


def test_the_second_of_two_simultaneous_demotions_is_refused(app, admin):
    make_user(app, "second@example.com", "admin")
    outcome: dict[str, object] = {}
    first_holds_the_lock = threading.Event()

    def demote_second():
        with app.app_context():
            first_holds_the_lock.wait(10)
            user = db.session.get(User, account_id("second@example.com"))
            try:
                outcome["second"] = service.update(None, user, "", "user", True)
            except AccountError as error:
                outcome["second"] = str(error)
            finally:
                db.session.remove()

    other = threading.Thread(target=demote_second)
    other.start()
    with app.app_context():
        user = db.session.get(User, account_id(ADMIN_EMAIL))
        # The first demotion takes the lock, then waits while the second one starts.
        service._lock_active_admins()
        first_holds_the_lock.set()
        time.sleep(0.5)
        assert other.is_alive(), "the second demotion did not wait for the first"
        outcome["first"] = service.update(None, user, "", "user", True)
        db.session.remove()
    other.join(10)
    assert outcome["first"] == ["role changed from Administrator to User"]
    assert outcome["second"] == service.LAST_ADMIN.format(email="second@example.com")
    with app.app_context():
        admins = db.session.execute(db.select(User.email).filter_by(role="admin", active=True)).scalars().all()
    assert admins == ["second@example.com"]
