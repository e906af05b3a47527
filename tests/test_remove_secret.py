"""Removing the saved client secret when no default stands behind it."""

import pytest

from .conftest import (
    ADMIN_EMAIL,
    CLIENT_SECRET,
    DEFAULTS,
    SETTINGS_PAGE,
    csrf_token,
    recorded_changes,
    save_settings,
    stored_settings,
)

REMOVE = SETTINGS_PAGE + "/fields/client_secret/remove"


def test_a_saved_secret_can_be_removed_after_confirmation(admin_client, app):
    save_settings(admin_client, client_secret=CLIENT_SECRET)
    page = admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    assert f'href="{REMOVE}">Remove the saved secret</a>' in page

    confirm = admin_client.get(REMOVE)
    assert confirm.status_code == 200
    assert "Remove the saved client secret?" in confirm.get_data(as_text=True)
    assert stored_settings(app)["client_secret_encrypted"] is not None

    response = admin_client.post(REMOVE, data={"csrf_token": csrf_token(admin_client, REMOVE)})
    assert response.status_code == 302 and response.headers["Location"] == SETTINGS_PAGE
    assert stored_settings(app)["client_secret_encrypted"] is None
    changes = [(c.actor_email, c.subject, c.change) for c in recorded_changes(app)]
    assert changes[-1] == (ADMIN_EMAIL, "client_secret", "removed")
    page = admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    assert "The saved client secret is removed." in page
    assert "Remove the saved secret" not in page
    assert "To enable, enter: Application (Client) ID, Client Secret" in page


def test_removing_without_the_csrf_token_removes_nothing(admin_client, app):
    save_settings(admin_client, client_secret=CLIENT_SECRET)
    assert admin_client.post(REMOVE, data={}).status_code == 400
    assert stored_settings(app)["client_secret_encrypted"] is not None


def test_removing_when_nothing_is_saved_records_nothing(admin_client, app):
    response = admin_client.post(REMOVE, data={"csrf_token": csrf_token(admin_client, REMOVE)})
    assert response.status_code == 302
    assert recorded_changes(app) == []


def test_without_a_saved_secret_there_is_nothing_to_remove(admin_client):
    assert "Remove the saved secret" not in admin_client.get(SETTINGS_PAGE).get_data(as_text=True)


@pytest.mark.app_config(**DEFAULTS)
def test_with_a_default_use_default_is_the_way_to_forget_it(admin_client):
    save_settings(admin_client, client_secret=CLIENT_SECRET)
    assert "Remove the saved secret" not in admin_client.get(SETTINGS_PAGE).get_data(as_text=True)


def test_a_user_cannot_remove_the_secret(user_client, app):
    assert user_client.get(REMOVE).status_code == 403
