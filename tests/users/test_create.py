"""Create user: with a one-time link shown once, or a password typed now; refused values."""

import pytest

from oroflask.auth.models import UNUSABLE_PASSWORD_HASH

from ..conftest import ADMIN_EMAIL, PASSWORD, USER_EMAIL, sign_in
from .helpers import NEW_USER, account, account_events, create_user, link_of, links_of


def test_the_form_offers_a_link_by_default_and_the_user_role(admin_client):
    page = admin_client.get(NEW_USER).get_data(as_text=True)
    assert '<input checked id="sign_in-0" name="sign_in" type="radio" value="link">' in page
    assert '<input checked id="role-0" name="role" type="radio" value="user">' in page
    assert "Make a one-time link" in page and "Type a password now" in page
    assert "System › Users › Create user" in page


def test_with_a_link_the_page_shows_it_once_and_stores_only_its_hash(admin_client, app, admin):
    response = create_user(admin_client, email=" New@Example.com ", name="New Person", role="admin")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    link = link_of(response)
    assert link.startswith("http://localhost/password/")
    assert "sets the password once, within" in page and "24 hours" in page
    assert "oroflask sends no e-mail" in page
    assert 'data-copy="#link"' in page
    created = account(app, "new@example.com")
    assert (created.name, created.role, created.active) == ("New Person", "admin", True)
    assert created.password_hash == UNUSABLE_PASSWORD_HASH
    token = link.rsplit("/", 1)[1]
    stored = links_of(app, "new@example.com")
    assert len(stored) == 1 and token not in stored[0].token_hash and len(stored[0].token_hash) == 64
    assert account_events(app) == [(ADMIN_EMAIL, "new@example.com", "created (administrator, with a one-time link)")]
    assert admin_client.get("/admin/users").get_data(as_text=True).count(token) == 0


def test_an_account_waiting_for_its_link_cannot_sign_in(app, admin_client, client):
    create_user(admin_client)
    other = app.test_client()
    response = sign_in(other, "new@example.com", "")
    assert response.status_code == 422


def test_with_a_typed_password_the_account_signs_in_with_it(admin_client, app, admin):
    response = create_user(admin_client, sign_in="password", password="a fine long password")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"
    assert links_of(app, "new@example.com") == []
    other = app.test_client()
    assert sign_in(other, "new@example.com", "a fine long password").status_code == 302
    assert account_events(app) == [(ADMIN_EMAIL, "new@example.com", "created (user, with a password)")]


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"sign_in": "password", "password": ""}, "password", "Type the password, or choose to make a one-time link."),
        ({"sign_in": "password", "password": "short"}, "password", "Use at least 10 characters."),
        (
            {"sign_in": "password", "email": "same@example.com", "password": "same@example.com"},
            "password",
            "Do not use your e-mail address as your password.",
        ),
        ({"email": "not an address"}, "email", "Enter a valid e-mail address."),
        ({"email": USER_EMAIL.upper()}, "email", "An account with this e-mail address already exists."),
        ({"role": "owner"}, "role", "Not a valid choice."),
        ({"name": "x" * 121}, "name", "Field cannot be longer than 120 characters."),
        ({"name": "Ann\x1b[31m"}, "name", "control characters"),
    ],
)
def test_a_refused_value_is_named_beside_its_field_and_nothing_is_saved(admin_client, app, user, fields, field, message):
    before = account_events(app)
    response = create_user(admin_client, **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page
    assert message in page
    assert account_events(app) == before
    assert account(app, "new@example.com") is None
    assert account(app, "same@example.com") is None


def test_a_password_is_ignored_when_a_link_is_chosen(admin_client, app, admin):
    response = create_user(admin_client, password="short")
    assert response.status_code == 200
    assert account(app, "new@example.com").password_hash == UNUSABLE_PASSWORD_HASH


def test_a_user_can_sign_in_with_the_created_password_but_not_the_admins(admin_client, app, admin):
    create_user(admin_client, sign_in="password", password="a fine long password")
    assert sign_in(app.test_client(), "new@example.com", PASSWORD).status_code == 422
