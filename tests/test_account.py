"""My account: Change password with its rules, the list of sessions and signing them out."""

from urllib.parse import urlsplit

import pytest

from oroflask.account.service import describe_browser
from oroflask.auth import service as accounts
from oroflask.auth.models import User
from oroflask.extensions import db

from .conftest import ADMIN_EMAIL, PASSWORD, USER_EMAIL, csrf_token, sign_in, submit_setup
from .test_sessions import is_signed_in, session_of, signed_in, stored_sessions, with_cookie_of

NEW_PASSWORD = "a new and long password"


def change_password(client, current=PASSWORD, new=NEW_PASSWORD, repeat=None):
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "new_password_confirm": new if repeat is None else repeat,
            "csrf_token": csrf_token(client, "/account"),
        },
    )


def press(client, path: str):
    """Press a button of My account that posts to `path`."""
    return client.post(path, data={"csrf_token": csrf_token(client, "/account")})


def password_hash(app, email: str) -> str:
    with app.app_context():
        return db.session.execute(db.select(User.password_hash).filter_by(email=email)).scalar_one()


def location(response) -> str:
    return urlsplit(response.headers["Location"]).path


@pytest.mark.parametrize("email", [ADMIN_EMAIL, USER_EMAIL])
def test_every_account_has_its_page(app, user, email):
    client = signed_in(app, email)
    response = client.get("/account")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert f"Signed in as <strong>{email}</strong>" in page
    assert "Change password" in page
    assert "Firefox on Linux" in page and "This browser" in page


def test_a_visitor_is_sent_to_login(client, admin):
    response = client.get("/account")
    assert location(response) == "/login"
    assert "next=/account" in response.headers["Location"].replace("%2F", "/")


def test_the_start_page_sends_a_user_to_the_account_page(user_client):
    response = user_client.get("/")
    assert location(response) == "/account"
    assert 'href="/account"' in user_client.get("/account").get_data(as_text=True)


def test_the_start_page_sends_an_admin_to_settings(admin_client):
    assert location(admin_client.get("/")) == "/admin/config/integrations/microsoft"


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"current": PASSWORD + "x"}, "current_password", "This is not your current password."),
        ({"new": "short one"}, "new_password", "Use at least 10 characters."),
        ({"new": "User@Example.com"}, "new_password", "Do not use your e-mail address as your password."),
        ({"new": "Password123"}, "new_password", "This is one of the most common passwords. Choose another."),
        ({"repeat": NEW_PASSWORD + "!"}, "new_password_confirm", "The two passwords differ."),
    ],
    ids=["wrong current", "short", "e-mail", "common", "repeat differs"],
)
def test_a_refused_change_says_why_beside_its_field_and_changes_nothing(app, user, fields, field, message):
    client = signed_in(app, USER_EMAIL)
    other = signed_in(app, USER_EMAIL, "198.51.100.7")
    before = password_hash(app, USER_EMAIL)
    response = change_password(client, **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error" id="{field}-error" role="alert">{message}</p>' in page
    assert password_hash(app, USER_EMAIL) == before
    assert is_signed_in(other)
    assert NEW_PASSWORD not in page and PASSWORD not in page


def test_a_change_stores_the_password_and_ends_only_the_other_sessions(app, user):
    client = signed_in(app, USER_EMAIL)
    other = signed_in(app, USER_EMAIL, "198.51.100.7")
    admin = signed_in(app, ADMIN_EMAIL)
    response = change_password(client)
    assert location(response) == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert "Password changed; your other sessions were signed out." in page
    assert is_signed_in(client)
    assert not is_signed_in(other)
    assert is_signed_in(admin)
    fresh = app.test_client()
    assert sign_in(fresh, USER_EMAIL).status_code == 422
    assert location(sign_in(fresh, USER_EMAIL, NEW_PASSWORD)) == "/"


def test_guessing_the_current_password_is_slowed_down(app, user):
    client = signed_in(app, USER_EMAIL)
    before = password_hash(app, USER_EMAIL)
    for _ in range(app.config["LOGIN_FAILURES_ALLOWED"]):
        assert change_password(client, current="not the password").status_code == 422
    response = change_password(client)  # the right one, but too soon
    assert "Too many wrong passwords. Wait 1 second before trying again." in response.get_data(as_text=True)
    assert password_hash(app, USER_EMAIL) == before
    # Counted as failed sign-ins of the account from this address, which slow those down too.
    assert sign_in(app.test_client(), USER_EMAIL).status_code == 429
    assert is_signed_in(signed_in(app, USER_EMAIL, "198.51.100.7"))


def test_the_page_lists_the_sessions_of_the_account_only(app, user):
    client = signed_in(app, USER_EMAIL)
    signed_in(app, USER_EMAIL, "198.51.100.7", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Version/17.0 Mobile Safari/604.1")
    signed_in(app, ADMIN_EMAIL, "203.0.113.9")
    page = client.get("/account").get_data(as_text=True)
    assert "Safari on iOS" in page and "198.51.100.7" in page
    assert "203.0.113.9" not in page
    assert page.count('class="session"') == 2
    assert "Sign out everywhere else" in page


def test_sign_out_of_another_browser(app, user):
    client = signed_in(app, USER_EMAIL)
    other = signed_in(app, USER_EMAIL, "198.51.100.7")
    response = press(client, f"/account/sessions/{session_of(app, other).id}/sign-out")
    assert location(response) == "/account"
    assert "That browser is signed out." in client.get("/account").get_data(as_text=True)
    assert not is_signed_in(other)
    assert is_signed_in(client)


def test_a_session_of_another_account_is_not_found_and_stays(app, user):
    client = signed_in(app, USER_EMAIL)
    admin = signed_in(app, ADMIN_EMAIL)
    assert press(client, f"/account/sessions/{session_of(app, admin).id}/sign-out").status_code == 404
    assert is_signed_in(admin)


def test_a_session_number_beyond_any_id_is_not_found(app, user):
    client = signed_in(app, USER_EMAIL)
    assert press(client, f"/account/sessions/{10**30}/sign-out").status_code == 404
    assert is_signed_in(client)


def test_this_browser_is_not_signed_out_as_another(app, user):
    client = signed_in(app, USER_EMAIL)
    assert press(client, f"/account/sessions/{session_of(app, client).id}/sign-out").status_code == 404
    assert is_signed_in(client)


def test_sign_out_everywhere_else_refuses_a_copied_cookie(app, user):
    client = signed_in(app, USER_EMAIL)
    other = signed_in(app, USER_EMAIL, "198.51.100.7")
    thief = with_cookie_of(app, other)
    admin = signed_in(app, ADMIN_EMAIL)
    response = press(client, "/account/sessions/sign-out-others")
    assert location(response) == "/account"
    assert "Signed out everywhere else (1 other session)." in client.get("/account").get_data(as_text=True)
    assert location(thief.get("/account")) == "/login"
    assert not is_signed_in(other)
    assert is_signed_in(client) and is_signed_in(admin)
    assert len(stored_sessions(app)) == 2


def test_the_buttons_need_the_csrf_token(app, user):
    client = signed_in(app, USER_EMAIL)
    other = signed_in(app, USER_EMAIL, "198.51.100.7")
    assert client.post("/account/sessions/sign-out-others").status_code == 400
    assert client.post(f"/account/sessions/{session_of(app, other).id}/sign-out").status_code == 400
    assert client.post("/account/password", data={"current_password": PASSWORD}).status_code == 400
    assert is_signed_in(other)


@pytest.mark.parametrize(
    "user_agent, described",
    [
        ("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "Firefox on Linux"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0", "Edge on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/18.0 Safari/605.1.15", "Safari on macOS"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/140.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/140.0.0.0", "A browser on Linux"),
        ("curl/8.5.0", "An unknown browser"),
        ("", "An unknown browser"),
    ],
)
def test_a_browser_is_described_in_words(user_agent, described):
    assert describe_browser(user_agent) == described


@pytest.mark.parametrize(
    "password, message",
    [
        ("Admin@Example.com", "Do not use your e-mail address as your password."),
        ("qwertyuiop", "This is one of the most common passwords. Choose another."),
    ],
)
def test_the_setup_page_applies_the_same_rule(client, app, password, message):
    with app.app_context():
        code = accounts.setup_code()
    response = submit_setup(client, code, password=password)
    assert response.status_code == 422
    assert f'<p class="error" id="password-error" role="alert">{message}</p>' in response.get_data(as_text=True)
