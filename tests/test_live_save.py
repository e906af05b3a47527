"""htmx live save: one field at a time, Use Default at once, and the answers to bad requests."""

import json
import re

import pytest

from oroflask.encryption import decrypt

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULTS,
    SETTINGS_PAGE,
    TENANT,
    element,
    expired_csrf_token,
    field_url,
    htmx_headers,
    live_save,
    save_settings,
    stored_settings,
    toggle_use_default,
    use_default_url,
)

EMPTY = {"client_id": None, "client_secret_encrypted": None, "tenant": None}


def test_the_csrf_token_on_the_body_is_accepted(admin_client, app):
    page = admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    token = json.loads(re.search(r"<body hx-headers='([^']+)'>", page).group(1))["X-CSRFToken"]
    headers = htmx_headers(admin_client, "tenant", token=token)
    response = admin_client.post(field_url("tenant"), data={"tenant": TENANT}, headers=headers)
    assert response.status_code == 200
    assert stored_settings(app)["tenant"] == TENANT


def test_the_page_tells_htmx_to_swap_refusals(admin_client):
    page = admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page).group(1)
    rules = json.loads(config)["responseHandling"]

    def swapped(status: int) -> bool:
        return next(rule for rule in rules if re.search(rule["code"], str(status)))["swap"]

    assert all(swapped(status) for status in (200, 400, 401, 403, 404, 413, 422, 429))
    assert not swapped(204)
    assert not swapped(500)


def test_a_valid_value_is_saved_and_its_fragment_comes_back(admin_client, app):
    response = live_save(admin_client, "client_id", CLIENT_ID.upper())
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment
    assert fragment.startswith('<div class="field" id="field-client_id">')
    assert '<span class="saved-mark">Saved</span>' in fragment
    assert element(fragment, "client_id")["value"] == CLIENT_ID
    assert stored_settings(app)["client_id"] == CLIENT_ID


def test_the_enable_control_follows_out_of_band(admin_client):
    live_save(admin_client, "client_id", CLIENT_ID)
    fragment = live_save(admin_client, "tenant", TENANT).get_data(as_text=True)
    enable = element(fragment, "field-enable")
    assert enable["hx-swap-oob"] == "true"
    assert "disabled" in element(fragment, "enable")
    assert "To enable, enter: Client Secret." in fragment

    fragment = live_save(admin_client, "client_secret", CLIENT_SECRET).get_data(as_text=True)
    assert element(fragment, "field-enable")["hx-swap-oob"] == "true"
    assert "disabled" not in element(fragment, "enable")
    assert "To enable" not in fragment


def test_saving_the_same_value_again_shows_no_saved_mark(admin_client):
    live_save(admin_client, "tenant", TENANT)
    response = live_save(admin_client, "tenant", TENANT)
    assert response.status_code == 200
    assert "Saved" not in response.get_data(as_text=True)


def test_a_secret_is_saved_without_being_sent_back(admin_client, app):
    response = live_save(admin_client, "client_secret", CLIENT_SECRET)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Saved" in fragment
    assert element(fragment, "client_secret")["value"] == ""
    assert element(fragment, "client_secret")["placeholder"] == "•••••••• saved"
    with app.app_context():
        assert decrypt(stored_settings(app)["client_secret_encrypted"]) == CLIENT_SECRET


def test_an_empty_secret_keeps_the_saved_one(admin_client, app):
    live_save(admin_client, "client_secret", CLIENT_SECRET)
    saved = stored_settings(app)["client_secret_encrypted"]
    response = live_save(admin_client, "client_secret", "")
    assert response.status_code == 200
    assert "Saved" not in response.get_data(as_text=True)
    assert stored_settings(app)["client_secret_encrypted"] == saved


def test_a_guid_shaped_secret_is_saved_with_a_warning(admin_client, app):
    response = live_save(admin_client, "client_secret", "9f8e7d6c-5b4a-3921-8070-6f5e4d3c2b1a")
    assert response.status_code == 200
    assert "This looks like the secret&#39;s Secret ID, not its Value." in response.get_data(
        as_text=True
    )
    assert stored_settings(app)["client_secret_encrypted"] is not None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("client_id", "not-a-guid", "The Application (Client) ID is a GUID"),
        ("tenant", "contoso", "Enter the Directory (tenant) ID"),
        ("client_secret", "has a space", "A client secret has no spaces"),
    ],
)
def test_an_invalid_value_is_refused_inline_and_not_stored(admin_client, app, name, value, message):
    response = live_save(admin_client, name, value)
    assert response.status_code == 422
    fragment = response.get_data(as_text=True)
    assert fragment.startswith(f'<div class="field has-error" id="field-{name}">')
    assert message in fragment
    assert "Saved" not in fragment
    assert element(fragment, name)["aria-invalid"] == "true"
    assert stored_settings(app) == EMPTY


def test_an_invalid_value_leaves_the_saved_one_in_place(admin_client, app):
    live_save(admin_client, "tenant", TENANT)
    response = live_save(admin_client, "tenant", "contoso")
    assert response.status_code == 422
    assert element(response.get_data(as_text=True), "tenant")["value"] == "contoso"
    assert stored_settings(app)["tenant"] == TENANT


@pytest.mark.app_config(**DEFAULTS)
def test_use_default_on_forgets_the_saved_value(admin_client, app):
    live_save(admin_client, "client_id", CLIENT_ID)
    response = toggle_use_default(admin_client, "client_id", on=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Saved" in fragment
    assert "checked" in element(fragment, "client_id_use_default")
    assert "readonly" in element(fragment, "client_id")
    assert element(fragment, "client_id")["value"] == DEFAULTS["MICROSOFT_CLIENT_ID"]
    assert stored_settings(app)["client_id"] is None


@pytest.mark.app_config(**DEFAULTS)
def test_use_default_off_copies_the_default_to_edit(admin_client, app):
    response = toggle_use_default(admin_client, "tenant", on=False)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "checked" not in element(fragment, "tenant_use_default")
    assert "readonly" not in element(fragment, "tenant")
    assert element(fragment, "tenant")["value"] == DEFAULTS["MICROSOFT_TENANT"]
    assert stored_settings(app)["tenant"] == DEFAULTS["MICROSOFT_TENANT"]


@pytest.mark.app_config(**DEFAULTS)
def test_use_default_off_for_the_secret_keeps_it_hidden(admin_client, app):
    response = toggle_use_default(admin_client, "client_secret", on=False)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert DEFAULTS["MICROSOFT_CLIENT_SECRET"] not in fragment
    assert element(fragment, "client_secret")["placeholder"] == "•••••••• saved"
    with app.app_context():
        assert decrypt(stored_settings(app)["client_secret_encrypted"]) == DEFAULTS[
            "MICROSOFT_CLIENT_SECRET"
        ]


@pytest.mark.app_config(**DEFAULTS)
def test_use_default_on_updates_the_enable_control(admin_client):
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    fragment = toggle_use_default(admin_client, "tenant", on=True).get_data(as_text=True)
    assert element(fragment, "field-enable")["hx-swap-oob"] == "true"
    assert "disabled" not in element(fragment, "enable")


@pytest.mark.parametrize("path", [field_url("password"), use_default_url("client_id_use_default")])
def test_an_unknown_field_is_not_found(admin_client, app, path):
    headers = htmx_headers(admin_client, "password")
    response = admin_client.post(path, data={"password": "x"}, headers=headers)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert "There is nothing at this address." in response.get_data(as_text=True)
    assert stored_settings(app) == EMPTY


CSRF_MESSAGE = "This page has expired or was sent without its security token."


@pytest.mark.parametrize("token", ["", "not-a-token", "expired"])
def test_a_live_save_without_a_valid_csrf_token_is_refused_readably(admin_client, app, token):
    if token == "expired":
        token = expired_csrf_token(admin_client)
    headers = htmx_headers(admin_client, "tenant", token=token)
    response = admin_client.post(field_url("tenant"), data={"tenant": TENANT}, headers=headers)
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#page-alert"
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment
    assert CSRF_MESSAGE in fragment
    assert stored_settings(app) == EMPTY


@pytest.mark.parametrize("token", [None, "not-a-token", "expired"])
def test_save_settings_without_a_valid_csrf_token_shows_a_readable_page(admin_client, app, token):
    if token == "expired":
        token = expired_csrf_token(admin_client)
    form = {"client_id": CLIENT_ID, "client_secret": "", "tenant": TENANT}
    if token is not None:
        form["csrf_token"] = token
    response = admin_client.post(SETTINGS_PAGE, data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<h1>Please reload the page</h1>" in page
    assert CSRF_MESSAGE in page
    assert stored_settings(app) == EMPTY


@pytest.mark.parametrize("secret", ["x", "Qx8~kR2.vN5_tL9-wP3zYb7"])
def test_a_secret_too_short_for_a_value_is_saved_with_a_warning(admin_client, app, secret):
    response = live_save(admin_client, "client_secret", secret)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "This looks too short for a client secret Value" in fragment
    assert 'aria-describedby="client_secret-hint client_secret-warning"' in fragment
    assert stored_settings(app)["client_secret_encrypted"] is not None


def test_a_secret_of_azures_length_has_no_warning(admin_client):
    fragment = live_save(admin_client, "client_secret", CLIENT_SECRET).get_data(as_text=True)
    assert "client_secret-warning" not in fragment
