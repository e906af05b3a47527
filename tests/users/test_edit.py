"""Edit an account (name, role, active), the guard of the last administrator, Reset password."""

import pytest

from oroflask.auth.models import UNUSABLE_PASSWORD_HASH, User
from oroflask.extensions import db

from ..conftest import ADMIN_EMAIL, PASSWORD_HASH, USER_EMAIL, csrf_token, make_user, sign_in
from ..test_sessions import is_signed_in, signed_in, user_id
from .helpers import USERS, account, account_events, edit_user, link_of, links_of, reset_password

LAST_ADMIN = (
    "admin@example.com is the only active administrator. Make another account an administrator "
    "first, so that someone can still manage oroflask."
)


def test_the_page_shows_the_account(admin_client, app, user):
    page = admin_client.get(f"{USERS}/{user_id(app, USER_EMAIL)}").get_data(as_text=True)
    assert f"System › Users › {USER_EMAIL}" in page
    assert 'checked id="role-0" name="role" type="radio" value="user"' in page
    assert 'checked id="active"' in page
    assert "Reset password" in page


def test_name_and_role_changes_are_stored_and_recorded(admin_client, app, user):
    number = user_id(app, USER_EMAIL)
    response = edit_user(admin_client, number, name="Una User", role="admin")
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "name set to &#39;Una User&#39;; role changed from User to Administrator" in page
    stored = account(app, USER_EMAIL)
    assert (stored.name, stored.role) == ("Una User", "admin")
    edit_user(admin_client, number, name="Una", role="admin")
    assert account_events(app) == [
        (ADMIN_EMAIL, USER_EMAIL, "name set to 'Una User'"),
        (ADMIN_EMAIL, USER_EMAIL, "role changed from User to Administrator"),
        (ADMIN_EMAIL, USER_EMAIL, "name changed from 'Una User' to 'Una'"),
    ]


def test_deactivating_signs_out_stops_links_and_login_then_reactivating_restores(admin_client, app, user):
    number = user_id(app, USER_EMAIL)
    reset = reset_password(admin_client, number)
    link = link_of(reset).removeprefix("http://localhost")
    set_account(app, USER_EMAIL, password_hash=PASSWORD_HASH)
    browser = signed_in(app, USER_EMAIL)
    assert edit_user(admin_client, number, active=False).status_code == 302
    assert not is_signed_in(browser)
    assert links_of(app, USER_EMAIL) == []
    assert app.test_client().get(link).status_code == 404
    refused = sign_in(app.test_client(), USER_EMAIL)
    assert refused.status_code == 422
    assert "This account is deactivated. Ask an administrator to reactivate it." in refused.get_data(as_text=True)
    wrong = sign_in(app.test_client(), USER_EMAIL, "not the password")
    assert "deactivated" not in wrong.get_data(as_text=True)
    assert account(app, USER_EMAIL).active is False

    assert edit_user(admin_client, number, active=True).status_code == 302
    assert sign_in(app.test_client(), USER_EMAIL).status_code == 302
    changes = [change for _, _, change in account_events(app)]
    assert changes[-2:] == ["deactivated (1 session ended)", "reactivated"]


def set_account(app, email: str, **values) -> None:
    with app.app_context():
        stored = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        for name, value in values.items():
            setattr(stored, name, value)
        db.session.commit()


@pytest.mark.parametrize("fields, field", [({"role": "user"}, "role"), ({"active": False}, "active")])
def test_the_last_active_administrator_can_be_neither_demoted_nor_deactivated(admin_client, app, admin, fields, field):
    # A deactivated administrator is no one who could still manage oroflask.
    make_user(app, "former@example.com", "admin")
    set_account(app, "former@example.com", active=False)
    values = {"role": "admin", "active": True, **fields}
    response = edit_user(admin_client, user_id(app, ADMIN_EMAIL), **values)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error" id="{field}-error" role="alert">{LAST_ADMIN}</p>' in page
    stored = account(app, ADMIN_EMAIL)
    assert (stored.role, stored.active) == ("admin", True)
    assert account_events(app) == []


@pytest.mark.parametrize("fields, field", [({"role": "user"}, "role"), ({"active": False}, "active")])
def test_an_admin_cannot_demote_or_deactivate_their_own_account(admin_client, app, admin, fields, field):
    make_user(app, "second@example.com", "admin")
    number = user_id(app, ADMIN_EMAIL)
    page = admin_client.get(f"{USERS}/{number}").get_data(as_text=True)
    assert "This is your own account: another administrator can change its role." in page
    response = edit_user(admin_client, number, **{"role": "admin", "active": True, **fields})
    assert response.status_code == 422
    message = {
        "role": "You cannot take the administrator role from your own account here; another administrator can.",
        "active": "You cannot deactivate your own account here; another administrator can.",
    }[field]
    assert f'<p class="error" id="{field}-error" role="alert">{message}</p>' in response.get_data(as_text=True)
    stored = account(app, ADMIN_EMAIL)
    assert (stored.role, stored.active) == ("admin", True)
    assert account_events(app) == []


def test_another_administrator_can_demote_and_deactivate_an_administrator(admin_client, app, admin):
    make_user(app, "second@example.com", "admin")
    second = signed_in(app, "second@example.com")
    number = user_id(app, "second@example.com")
    assert edit_user(admin_client, number, role="user", active=False).status_code == 302
    assert not is_signed_in(second)
    stored = account(app, "second@example.com")
    assert (stored.role, stored.active) == ("user", False)
    assert [change for _, _, change in account_events(app)] == [
        "role changed from Administrator to User",
        "deactivated (1 session ended)",
    ]


def test_reset_password_asks_first_then_makes_a_link_and_ends_the_old_password(admin_client, app, user):
    number = user_id(app, USER_EMAIL)
    browser = signed_in(app, USER_EMAIL)
    page = f"{USERS}/{number}/reset-password"
    asked = admin_client.get(page)
    assert asked.status_code == 200
    assert f"Reset the password of {USER_EMAIL}?" in asked.get_data(as_text=True)
    assert account(app, USER_EMAIL).password_hash != UNUSABLE_PASSWORD_HASH
    assert is_signed_in(browser)

    response = reset_password(admin_client, number)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert link_of(response).startswith("http://localhost/password/")
    assert account(app, USER_EMAIL).password_hash == UNUSABLE_PASSWORD_HASH
    assert not is_signed_in(browser)
    assert sign_in(app.test_client(), USER_EMAIL).status_code == 422
    assert account_events(app) == [(ADMIN_EMAIL, USER_EMAIL, "password reset (link made, 1 session ended)")]


def test_reset_password_is_not_for_ones_own_account(admin_client, app, admin):
    number = user_id(app, ADMIN_EMAIL)
    response = admin_client.get(f"{USERS}/{number}/reset-password")
    assert "This is your own account: change your password on My account." in response.get_data(as_text=True)
    refused = admin_client.post(
        f"{USERS}/{number}/reset-password", data={"csrf_token": csrf_token(admin_client, f"{USERS}/{number}")}
    )
    assert refused.status_code == 409
    assert account(app, ADMIN_EMAIL).password_hash != UNUSABLE_PASSWORD_HASH
    assert links_of(app, ADMIN_EMAIL) == []


def test_reset_password_needs_the_csrf_token(admin_client, app, user):
    number = user_id(app, USER_EMAIL)
    response = admin_client.post(f"{USERS}/{number}/reset-password")
    assert response.status_code == 400
    assert links_of(app, USER_EMAIL) == []


def test_a_password_change_on_my_account_is_recorded(user_client, app):
    response = user_client.post(
        "/account/password",
        data={
            "current_password": "correct horse battery",
            "new_password": "a new and long password",
            "new_password_confirm": "a new and long password",
            "csrf_token": csrf_token(user_client, "/account"),
        },
    )
    assert response.status_code == 302
    assert account_events(app) == [(USER_EMAIL, USER_EMAIL, "password changed")]


def test_my_account_shows_the_name_and_e_mail(user_client, app):
    set_account(app, USER_EMAIL, name="Una User")
    page = user_client.get("/account").get_data(as_text=True)
    assert "<dt>Name</dt><dd>Una User</dd>" in page
    assert f"<dt>E-mail</dt><dd>{USER_EMAIL}</dd>" in page


def test_the_users_page_shows_the_last_sign_in(admin_client, app, user):
    assert account(app, USER_EMAIL).last_sign_in_at is None
    signed_in(app, USER_EMAIL)
    signed_at = account(app, USER_EMAIL).last_sign_in_at
    assert signed_at is not None
    page = admin_client.get(USERS, query_string={"q": USER_EMAIL}).get_data(as_text=True)
    assert f'<time datetime="{signed_at.isoformat()}">{signed_at.strftime("%Y-%m-%d %H:%M")}</time>' in page
