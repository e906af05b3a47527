"""One-time set-password links: set once, then never again; replaced, expired, of a deactivated account."""

from datetime import timedelta

import pytest

from oroflask import create_app
from oroflask.auth import password_links, sessions
from oroflask.auth.models import PasswordLink, User, UserSession
from oroflask.extensions import db

from ..conftest import ADMIN_EMAIL, USER_EMAIL, csrf_token, sign_in
from ..test_sessions import is_signed_in, signed_in, user_id
from .helpers import account, account_events, create_user, link_of, links_of, reset_password

NEW_PASSWORD = "my own chosen passphrase"
NO_LONGER_VALID = "It was used already, replaced by a newer one, or is older than 24 hours. Ask an administrator for a new one."


@pytest.fixture
def link(admin_client, app) -> str:
    """Return the path of the one-time link of a new account, new@example.com."""
    return link_of(create_user(admin_client)).removeprefix("http://localhost")


def set_password(client, path: str, password: str = NEW_PASSWORD, repeat: str | None = None):
    """Submit the page of a one-time link."""
    token = csrf_token(client, path)
    return client.post(
        path, data={"password": password, "password_confirm": repeat or password, "csrf_token": token}
    )


def assert_no_longer_valid(response):
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "This link is no longer valid" in page
    assert NO_LONGER_VALID in page
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_asks_for_the_password_of_the_links_account(app, link):
    visitor = app.test_client()
    response = visitor.get(link)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Set your password</h1>" in page
    assert "<strong>new@example.com</strong>" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert "This browser is signed in" not in page


def test_setting_the_password_signs_in_and_the_link_works_once(app, link):
    visitor = app.test_client()
    response = set_password(visitor, link)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert visitor.get("/account").status_code == 200
    assert "<strong>new@example.com</strong>" in visitor.get("/account").get_data(as_text=True)
    assert links_of(app, "new@example.com") == []
    assert account(app, "new@example.com").last_sign_in_at is not None
    assert sign_in(app.test_client(), "new@example.com", NEW_PASSWORD).status_code == 302
    assert account_events(app)[-1] == ("new@example.com", "new@example.com", "password set with a one-time link")

    assert_no_longer_valid(app.test_client().get(link))
    assert_no_longer_valid(set_password(app.test_client(), link, "another long passphrase"))
    assert sign_in(app.test_client(), "new@example.com", "another long passphrase").status_code == 422


@pytest.mark.parametrize(
    "password, repeat, field, message",
    [
        ("short", None, "password", "Use at least 10 characters."),
        ("new@example.com", None, "password", "Do not use your e-mail address as your password."),
        (NEW_PASSWORD, "something else entirely", "password_confirm", "The two passwords differ."),
    ],
)
def test_a_refused_password_is_named_beside_its_field_and_the_link_stays(app, link, password, repeat, field, message):
    response = set_password(app.test_client(), link, password, repeat)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error" id="{field}-error" role="alert">{message}</p>' in page
    assert len(links_of(app, "new@example.com")) == 1
    assert app.test_client().get(link).status_code == 200


def test_a_newer_link_replaces_the_older(admin_client, app, link):
    newer = link_of(reset_password(admin_client, user_id(app, "new@example.com"))).removeprefix("http://localhost")
    assert_no_longer_valid(app.test_client().get(link))
    assert_no_longer_valid(set_password(app.test_client(), link))
    assert set_password(app.test_client(), newer).status_code == 302


def test_a_link_older_than_the_limit_does_not_work(app, link):
    with app.app_context():
        stored = db.session.execute(db.select(PasswordLink)).scalar_one()
        stored.expires_at = stored.created_at + timedelta(hours=24) - timedelta(days=1, seconds=1)
        db.session.commit()
    assert_no_longer_valid(app.test_client().get(link))
    assert_no_longer_valid(set_password(app.test_client(), link))
    assert account(app, "new@example.com").last_sign_in_at is None


@pytest.mark.app_config(PASSWORD_LINK_HOURS=2)
def test_the_lifetime_is_configured(admin_client, app, link):
    with app.app_context():
        stored = db.session.execute(db.select(PasswordLink)).scalar_one()
        assert stored.expires_at - stored.created_at == timedelta(hours=2)
    response = create_user(admin_client, email="other@example.com")
    assert "within 2 hours" in " ".join(response.get_data(as_text=True).split())
    assert "older than 2 hours" in app.test_client().get("/password/unknown").get_data(as_text=True)


def test_a_deactivated_accounts_link_does_not_work(admin_client, app, user):
    path = link_of(reset_password(admin_client, user_id(app, USER_EMAIL))).removeprefix("http://localhost")
    with app.app_context():
        # The link is kept here on purpose, to show that the account's state alone refuses it.
        account_row = db.session.get(User, user_id(app, USER_EMAIL))
        token = path.rsplit("/", 1)[1]
        assert password_links.account_of(token) is not None
        account_row.active = False
        db.session.commit()
    assert_no_longer_valid(app.test_client().get(path))
    assert_no_longer_valid(set_password(app.test_client(), path))


def test_an_unknown_token_is_not_found(client, admin):
    assert_no_longer_valid(client.get("/password/" + "A" * 43))
    assert_no_longer_valid(client.get("/password/" + "A" * 43, headers={"HX-Request": "true"}))
    assert client.get("/password/not*a*token").status_code == 404


def test_the_page_works_while_another_account_is_signed_in(app, admin_client, link):
    page = admin_client.get(link).get_data(as_text=True)
    assert "This browser is signed in as <strong>admin@example.com</strong>" in page
    assert "signs admin@example.com out" in page
    admin_elsewhere = signed_in(app, ADMIN_EMAIL)
    assert set_password(admin_client, link).status_code == 302
    assert "<strong>new@example.com</strong>" in admin_client.get("/account").get_data(as_text=True)
    assert is_signed_in(admin_elsewhere)
    assert account_events(app)[-1] == ("new@example.com", "new@example.com", "password set with a one-time link")


def test_setting_the_password_ends_the_accounts_other_sessions(admin_client, app, user):
    path = link_of(reset_password(admin_client, user_id(app, USER_EMAIL))).removeprefix("http://localhost")
    with app.app_context():
        sessions.start_session(user_id(app, USER_EMAIL), "A stolen browser", "192.0.2.1")
        db.session.commit()
    visitor = app.test_client()
    assert set_password(visitor, path).status_code == 302
    with app.app_context():
        remaining = db.session.execute(
            db.select(UserSession.user_agent).filter_by(user_id=user_id(app, USER_EMAIL))
        ).scalars().all()
    assert "A stolen browser" not in remaining and len(remaining) == 1


@pytest.mark.parametrize("hours", [0, -1, "soon", True])
def test_the_lifetime_must_be_a_whole_number_of_hours(config, hours):
    config["PASSWORD_LINK_HOURS"] = hours
    with pytest.raises(ValueError, match="PASSWORD_LINK_HOURS must be a whole number of at least 1"):
        create_app(config)
