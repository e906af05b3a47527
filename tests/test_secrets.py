"""The client secret: never sent back to the browser, encrypted at rest."""

import pytest
from cryptography.fernet import Fernet

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULTS,
    SETTINGS_PAGE,
    TENANT,
    element,
    field_url,
    htmx_headers,
    live_save,
    save_settings,
    stored_settings,
    toggle_use_default,
)

OTHER_SECRET = "Zt5~a.completely-different_secret.value.000"


def assert_hidden(response, *secrets):
    """Check that no secret, in any form, is in this response (body and headers)."""
    body = response.get_data(as_text=True)
    headers = str(response.headers)
    for secret in secrets:
        assert secret not in body
        assert secret not in headers


def test_the_secret_never_comes_back(admin_client, app):
    seen = [
        save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    ]
    ciphertext = stored_settings(app)["client_secret_encrypted"]
    seen.append(admin_client.get(SETTINGS_PAGE))
    seen.append(admin_client.get(SETTINGS_PAGE, headers={"HX-Request": "true"}))
    seen.append(live_save(admin_client, "client_secret", CLIENT_SECRET))
    seen.append(live_save(admin_client, "client_secret", ""))
    seen.append(live_save(admin_client, "tenant", "common"))
    seen.append(live_save(admin_client, "client_id", "not a guid"))
    seen.append(toggle_use_default(admin_client, "client_secret", on=False))
    seen.append(toggle_use_default(admin_client, "client_secret", on=True))
    seen.append(
        admin_client.post(field_url("nothing"), headers=htmx_headers(admin_client, "nothing"))
    )
    seen.append(admin_client.post(SETTINGS_PAGE, data={"client_secret": CLIENT_SECRET}))
    for response in seen:
        assert_hidden(response, CLIENT_SECRET, ciphertext)


def test_a_typed_secret_is_not_echoed_when_another_field_is_invalid(admin_client, app):
    response = save_settings(admin_client, client_secret=CLIENT_SECRET, tenant="contoso")
    assert response.status_code == 422
    assert_hidden(response, CLIENT_SECRET)
    assert element(response.get_data(as_text=True), "client_secret")["value"] == ""
    assert stored_settings(app)["client_secret_encrypted"] is None


def test_an_invalid_secret_is_not_echoed(admin_client):
    typed = CLIENT_SECRET + "\x07"
    for response in (
        save_settings(admin_client, client_secret=typed),
        live_save(admin_client, "client_secret", typed),
    ):
        assert response.status_code == 422
        assert_hidden(response, CLIENT_SECRET)
        assert "The secret was not saved." in response.get_data(as_text=True)


def test_the_placeholder_does_not_tell_the_length(admin_client):
    # Both are long enough for a secret Value: a too short one is warned about (see test_live_save).
    live_save(admin_client, "client_secret", CLIENT_SECRET)
    short = element(admin_client.get(SETTINGS_PAGE).get_data(as_text=True), "client_secret")
    live_save(admin_client, "client_secret", OTHER_SECRET * 3)
    long = element(admin_client.get(SETTINGS_PAGE).get_data(as_text=True), "client_secret")
    assert short == long


@pytest.mark.app_config(**DEFAULTS)
def test_the_default_secret_never_comes_back(admin_client):
    default = DEFAULTS["MICROSOFT_CLIENT_SECRET"]
    assert_hidden(admin_client.get(SETTINGS_PAGE), default)
    assert_hidden(toggle_use_default(admin_client, "client_secret", on=False), default)
    assert_hidden(admin_client.get(SETTINGS_PAGE), default)


def test_the_secret_is_stored_encrypted(admin_client, app, config):
    live_save(admin_client, "client_secret", CLIENT_SECRET)
    ciphertext = stored_settings(app)["client_secret_encrypted"]
    assert CLIENT_SECRET not in ciphertext
    assert Fernet(config["ENCRYPTION_KEYS"]).decrypt(ciphertext.encode()).decode() == CLIENT_SECRET


def test_a_secret_stays_readable_after_a_key_rotation(admin_client, app, config):
    live_save(admin_client, "client_secret", CLIENT_SECRET)
    new_key = Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = new_key + "\n" + config["ENCRYPTION_KEYS"]
    html = admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    assert "cannot be decrypted" not in html
    assert element(html, "client_secret")["placeholder"] == "•••••••• saved"


@pytest.fixture
def keys_changed(admin_client, app):
    """Save a secret, then change the encryption keys so it can no longer be read."""
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    app.config["ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return admin_client


UNDECRYPTABLE = "The saved secret cannot be decrypted with the configured encryption keys"


def test_an_undecryptable_secret_is_explained(keys_changed):
    response = keys_changed.get(SETTINGS_PAGE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert UNDECRYPTABLE in html
    assert "Enter it again." in html
    assert "To enable, enter: Client Secret." in html


def test_an_undecryptable_secret_does_not_block_other_saves(keys_changed, app):
    response = live_save(keys_changed, "tenant", "common")
    assert response.status_code == 200
    assert "To enable, enter: Client Secret." in response.get_data(as_text=True)
    assert save_settings(keys_changed, client_id=CLIENT_ID, tenant=TENANT).status_code == 302
    assert stored_settings(app)["tenant"] == TENANT


def test_an_undecryptable_secret_is_replaced_by_a_typed_one(keys_changed, app):
    response = live_save(keys_changed, "client_secret", OTHER_SECRET)
    assert response.status_code == 200
    assert "Saved" in response.get_data(as_text=True)
    html = keys_changed.get(SETTINGS_PAGE).get_data(as_text=True)
    assert UNDECRYPTABLE not in html
    assert "To enable" not in html
