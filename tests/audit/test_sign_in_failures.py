"""Sign-ins refused beyond the throttle's budgets go into the audit log, once per crossing."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from oroflask.audit.models import SIGN_IN, AuditEvent
from oroflask.auth import service as accounts
from oroflask.auth.models import LoginFailure
from oroflask.database import utcnow
from oroflask.extensions import db

from ..conftest import ADMIN_EMAIL, PASSWORD, sign_in
from .conftest import PAGE, read_log

ADDRESS = "203.0.113.9"


def fail(app, count: int, email: str = ADMIN_EMAIL, address: str = ADDRESS) -> None:
    with app.app_context():
        for _ in range(count):
            accounts.record_failure(email, address)


def recorded(app) -> list[tuple[int | None, str, str, str, str]]:
    with app.app_context():
        events = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [(event.actor_id, event.actor_email, event.area, event.subject, event.change) for event in events]


def test_the_failure_past_the_accounts_budget_is_recorded_once(app, admin):
    fail(app, 5)
    assert recorded(app) == []
    fail(app, 1)
    expected = (
        None, "", SIGN_IN, ADMIN_EMAIL,
        "6 failed sign-ins from 203.0.113.9 in 15 minutes; further attempts are slowed down",
    )
    assert recorded(app) == [expected]
    fail(app, 10)
    assert recorded(app) == [expected]


def test_an_unknown_account_is_not_named(app, admin):
    typed = "my password typed here"
    fail(app, 6, email=typed)
    [(_actor, _email, _area, subject, change)] = recorded(app)
    assert subject == "an unknown account"
    assert "typed" not in change


@pytest.mark.app_config(LOGIN_FAILURES_ALLOWED_PER_ADDRESS=8)
def test_the_failure_past_the_addresss_budget_is_recorded_once(app, admin):
    for number in range(8):
        fail(app, 1, email=f"guess{number}@example.com")
    assert recorded(app) == []
    fail(app, 1, email=ADMIN_EMAIL)
    fail(app, 3, email="guess9@example.com")
    assert recorded(app) == [(
        None, "", SIGN_IN, ADMIN_EMAIL,
        "9 failed sign-ins to any account from 203.0.113.9 in 15 minutes; "
        "further attempts from this address are slowed down",
    )]


def move_failures_back(app, by: timedelta) -> None:
    """Make the failures so far look `by` older, as if that time had passed since."""
    with app.app_context():
        db.session.execute(update(LoginFailure).values(failed_at=utcnow() - by))
        db.session.commit()


def test_another_crossing_after_the_window_is_recorded_again(app, admin):
    fail(app, 7)
    move_failures_back(app, timedelta(hours=1))
    fail(app, 5)
    assert len(recorded(app)) == 1
    fail(app, 1)
    assert len(recorded(app)) == 2


@pytest.mark.app_config(LOGIN_FAILURE_WINDOW_SECONDS=90)
def test_a_window_of_seconds_is_told_in_seconds(app, admin):
    fail(app, 6)
    assert "6 failed sign-ins from 203.0.113.9 in 90 seconds;" in recorded(app)[0][4]


@pytest.mark.app_config(LOGIN_FAILURES_ALLOWED=2)
def test_failed_sign_ins_on_the_login_page_show_in_the_log(client, app, admin):
    for _ in range(3):
        assert sign_in(client, ADMIN_EMAIL, "wrong password").status_code == 422
        move_failures_back(app, timedelta(minutes=1))
    assert sign_in(client, ADMIN_EMAIL, PASSWORD).status_code == 302
    rows, _older = read_log(client.get(PAGE).get_data(as_text=True))
    assert [cells[1:] for _id, cells in rows] == [[
        "Nobody signed in", "Sign-in", ADMIN_EMAIL,
        "3 failed sign-ins from 127.0.0.1 in 15 minutes; further attempts are slowed down",
    ]]
