"""Signed-in sessions kept on the server: signing out ends them, an account's can all be ended,
idle or old ones are refused, and the cookie alone never signs a request in."""

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask_login.utils import encode_cookie

from oroflask.auth import sessions
from oroflask.auth.access import SESSION_TOKEN
from oroflask.auth.models import User, UserSession
from oroflask.database import utcnow
from oroflask.extensions import db

from .conftest import ADMIN_EMAIL, SETTINGS_PAGE, USER_EMAIL, csrf_token, set_up_first_admin, sign_in

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


def signed_in(app, email: str, address: str = "127.0.0.1", browser: str = BROWSER):
    """Return a new client signed in as `email`, from that address and browser."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address, HTTP_USER_AGENT=browser)
    assert sign_in(client, email).status_code == 302
    return client


def is_signed_in(client) -> bool:
    """Tell whether the client's next request is signed in (the start page does not send it to login)."""
    response = client.get("/")
    return urlsplit(response.headers.get("Location", "")).path != "/login"


def session_token(client) -> str:
    with client.session_transaction() as session:
        return session[SESSION_TOKEN]


def session_of(app, client) -> UserSession:
    """Return the stored session of a signed-in client."""
    digest = hashlib.sha256(session_token(client).encode()).hexdigest()
    with app.app_context():
        return db.session.execute(db.select(UserSession).filter_by(token_hash=digest)).scalar_one()


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.execute(db.select(User.id).filter_by(email=email)).scalar_one()


def stored_sessions(app) -> list[UserSession]:
    with app.app_context():
        return list(db.session.execute(db.select(UserSession).order_by(UserSession.id)).scalars())


def with_cookie_of(app, client):
    """Return a new client that carries a copy of `client`'s session cookie, as a thief would."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def sign_out(client):
    return client.post("/logout", data={"csrf_token": csrf_token(client, SETTINGS_PAGE)})


def set_times(app, client, **times) -> None:
    with app.app_context():
        db.session.execute(
            db.update(UserSession).where(UserSession.id == session_of(app, client).id).values(**times)
        )
        db.session.commit()


# Sign-in and sign-out


def test_signing_in_stores_the_session_without_its_token(app, admin):
    client = signed_in(app, admin, "203.0.113.5", "x" * 400)
    [stored] = stored_sessions(app)
    token = session_token(client)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.user_id == user_id(app, admin)
    assert stored.remote_addr == "203.0.113.5"
    assert stored.user_agent == "x" * 255
    assert stored.created_at == stored.last_seen_at
    assert utcnow() - stored.created_at < timedelta(minutes=1)
    assert token not in str([value for value in vars(stored).values()])


def test_first_admin_setup_opens_a_session(client, app):
    set_up_first_admin(app, client)
    assert session_of(app, client).user_id == user_id(app, ADMIN_EMAIL)
    assert is_signed_in(client)


def test_a_copied_cookie_is_refused_after_sign_out(app, admin):
    client = signed_in(app, admin)
    thief = with_cookie_of(app, client)
    assert thief.get(SETTINGS_PAGE).status_code == 200
    assert sign_out(client).status_code == 302
    response = thief.get(SETTINGS_PAGE)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert stored_sessions(app) == []


def test_signing_out_ends_only_this_session(app, admin):
    laptop = signed_in(app, admin)
    phone = signed_in(app, admin, "198.51.100.20")
    sign_out(laptop)
    assert not is_signed_in(laptop)
    assert is_signed_in(phone)
    assert [stored.remote_addr for stored in stored_sessions(app)] == ["198.51.100.20"]


def test_a_remember_me_cookie_does_not_bring_an_ended_session_back(app, admin):
    client = signed_in(app, admin)
    thief = with_cookie_of(app, client)
    sign_out(client)
    account = str(user_id(app, admin))
    remember = encode_cookie(account, key=app.config["SECRET_KEY"])
    for visitor in (client, thief):
        visitor.set_cookie("remember_token", remember)
        assert visitor.get(SETTINGS_PAGE).status_code == 302
        with visitor.session_transaction() as session:
            assert session["_user_id"] == account  # Flask-Login read the cookie, and was refused


def test_a_cookie_without_a_session_signs_nobody_in(client, app, admin):
    # As a cookie signed with the secret key but made before sessions were kept on the server.
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id(app, admin))
        session["_fresh"] = True
    assert client.get(SETTINGS_PAGE).status_code == 302


def test_a_session_opened_for_another_account_signs_nobody_in(app, user):
    client = signed_in(app, user)
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id(app, ADMIN_EMAIL))
    assert client.get(SETTINGS_PAGE).status_code == 302
    assert not is_signed_in(client)


def test_an_unknown_token_signs_nobody_in(app, admin):
    client = signed_in(app, admin)
    with client.session_transaction() as session:
        session[SESSION_TOKEN] = session[SESSION_TOKEN][:-2] + "xx"
    assert not is_signed_in(client)


def test_deleting_an_account_deletes_its_sessions(app, user):
    signed_in(app, user)
    signed_in(app, ADMIN_EMAIL)
    with app.app_context():
        db.session.execute(db.delete(User).where(User.email == USER_EMAIL))
        db.session.commit()
    assert [stored.user_id for stored in stored_sessions(app)] == [user_id(app, ADMIN_EMAIL)]


# Ending every session of an account, listing them


def test_ending_all_sessions_of_an_account_signs_out_each_of_its_browsers(app, user):
    laptop, phone = signed_in(app, ADMIN_EMAIL), signed_in(app, ADMIN_EMAIL, "198.51.100.20")
    other = signed_in(app, user)
    with app.app_context():
        assert sessions.end_all_sessions(user_id(app, ADMIN_EMAIL)) == 2
        db.session.commit()
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert is_signed_in(other)


def test_ending_all_sessions_but_the_current_one(app, admin):
    laptop, phone = signed_in(app, admin), signed_in(app, admin, "198.51.100.20")
    with app.app_context():
        ended = sessions.end_all_sessions(user_id(app, admin), except_session=session_of(app, laptop).id)
        db.session.commit()
    assert ended == 1
    assert is_signed_in(laptop)
    assert not is_signed_in(phone)


def test_ending_one_session_needs_its_account(app, user):
    admin_browser = signed_in(app, ADMIN_EMAIL)
    with app.app_context():
        assert not sessions.end_session(user_id(app, USER_EMAIL), session_of(app, admin_browser).id)
        assert sessions.end_session(user_id(app, ADMIN_EMAIL), session_of(app, admin_browser).id)
        db.session.commit()
    assert not is_signed_in(admin_browser)


def test_the_open_sessions_of_an_account_most_recently_seen_first(app, user):
    laptop = signed_in(app, ADMIN_EMAIL, "192.0.2.10", "Laptop browser")
    phone = signed_in(app, ADMIN_EMAIL, "198.51.100.20", "Phone browser")
    idle = signed_in(app, ADMIN_EMAIL, "192.0.2.30", "Forgotten browser")
    signed_in(app, user)
    set_times(app, laptop, last_seen_at=utcnow() - timedelta(hours=1))
    set_times(app, idle, last_seen_at=utcnow() - timedelta(days=8))
    with app.app_context():
        listed = sessions.active_sessions(user_id(app, ADMIN_EMAIL))
    assert [(each.user_agent, each.remote_addr) for each in listed] == [
        ("Phone browser", "198.51.100.20"),
        ("Laptop browser", "192.0.2.10"),
    ]
    assert listed[0].id == session_of(app, phone).id


# Idle and lifetime limits, last seen


@pytest.mark.app_config(SESSION_IDLE_DAYS=2)
def test_a_session_idle_too_long_is_refused(app, admin):
    client = signed_in(app, admin)
    set_times(app, client, last_seen_at=utcnow() - timedelta(days=2, minutes=1))
    assert not is_signed_in(client)


@pytest.mark.app_config(SESSION_LIFETIME_DAYS=3)
def test_a_session_older_than_its_lifetime_is_refused_even_in_use(app, admin):
    client = signed_in(app, admin)
    set_times(app, client, created_at=utcnow() - timedelta(days=3, minutes=1))
    assert not is_signed_in(client)


def test_signing_in_deletes_expired_sessions(app, admin):
    old = signed_in(app, admin)
    set_times(app, old, last_seen_at=utcnow() - timedelta(days=8))
    current = signed_in(app, admin)
    assert [stored.id for stored in stored_sessions(app)] == [session_of(app, current).id]


def test_last_seen_is_written_only_when_it_is_a_few_minutes_old(app, admin):
    client = signed_in(app, admin)
    first_seen = session_of(app, client).last_seen_at
    for _ in range(3):
        assert is_signed_in(client)
    assert session_of(app, client).last_seen_at == first_seen
    set_times(app, client, last_seen_at=utcnow() - timedelta(minutes=6))
    assert is_signed_in(client)
    assert utcnow() - session_of(app, client).last_seen_at < timedelta(minutes=1)
