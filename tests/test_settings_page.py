"""The Microsoft Settings page: what it shows, and Save Settings as a plain form POST."""

from urllib.parse import urlsplit

import pytest

from oroflask.encryption import decrypt

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULTS,
    SETTINGS_PAGE,
    TENANT,
    element,
    field_html,
    save_settings,
    stored_settings,
)

LABELS = {
    "client_id": "Application (Client) ID",
    "client_secret": "Client Secret",
    "tenant": "Directory (tenant) ID",
}


def page(client) -> str:
    response = client.get(SETTINGS_PAGE)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def stored_secret(app) -> str | None:
    ciphertext = stored_settings(app)["client_secret_encrypted"]
    if ciphertext is None:
        return None
    with app.app_context():
        return decrypt(ciphertext)


# What the page shows


def test_every_field_has_its_label_and_input(admin_client):
    html = page(admin_client)
    assert "<h1>Microsoft Settings</h1>" in html
    for name, label in LABELS.items():
        assert f'<label class="field-label" for="{name}">{label}</label>' in html
        assert element(html, name)["name"] == name
        assert element(html, f"{name}_use_default")["type"] == "checkbox"
    assert element(html, "client_secret")["type"] == "password"
    assert '<label class="field-label" for="redirect_uri">Redirect URI</label>' in html
    assert "Save Settings" in html


def test_without_a_configured_default_use_default_is_unavailable(admin_client):
    html = page(admin_client)
    for name in LABELS:
        checkbox = element(html, f"{name}_use_default")
        assert "disabled" in checkbox and "checked" not in checkbox
        assert "readonly" not in element(html, name)
    assert "No default is configured (OROFLASK_MICROSOFT_CLIENT_ID)." in html
    assert "No default is configured (OROFLASK_MICROSOFT_TENANT)." in html


@pytest.mark.app_config(**DEFAULTS)
def test_configured_defaults_are_shown_read_only(admin_client):
    html = page(admin_client)
    for name in LABELS:
        checkbox = element(html, f"{name}_use_default")
        assert "checked" in checkbox and "disabled" not in checkbox
        assert "readonly" in element(html, name)
    assert element(html, "client_id")["value"] == DEFAULTS["MICROSOFT_CLIENT_ID"]
    assert element(html, "tenant")["value"] == DEFAULTS["MICROSOFT_TENANT"]
    assert element(html, "client_secret")["value"] == ""
    assert element(html, "client_secret")["placeholder"] == "•••••••• default"
    assert "No default is configured" not in html


@pytest.mark.app_config(**DEFAULTS)
def test_a_saved_value_replaces_the_default(admin_client):
    save_settings(admin_client, client_id=CLIENT_ID, tenant="", client_secret="")
    html = page(admin_client)
    assert element(html, "client_id")["value"] == CLIENT_ID
    assert "readonly" not in element(html, "client_id")
    assert "checked" not in element(html, "client_id_use_default")
    assert "checked" in element(html, "tenant_use_default")


def page_at(client, base_url: str) -> str:
    """Open the settings page at another address, still signed in."""
    session = client.get_cookie("session")
    client.set_cookie("session", session.value, domain=urlsplit(base_url).hostname)
    response = client.get(SETTINGS_PAGE, base_url=base_url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.app_config(PUBLIC_URL="https://mail.example.com/")
def test_redirect_uri_comes_from_the_public_url(admin_client):
    html = page_at(admin_client, "http://10.0.0.5:8000")
    redirect_uri = element(html, "redirect_uri")
    assert redirect_uri["value"] == "https://mail.example.com/oauth/microsoft/callback"
    assert "readonly" in redirect_uri
    assert "Add this exact address to your Azure application" in html
    assert ">Copy</button>" in html


def test_redirect_uri_comes_from_the_address_pinned_at_sign_in_without_a_public_url(admin_client):
    html = page_at(admin_client, "http://mail.internal:8080")
    redirect_uri = element(html, "redirect_uri")["value"]
    assert redirect_uri == "http://localhost/oauth/microsoft/callback"


# The Enable control


def test_enable_is_disabled_and_names_what_is_missing(admin_client):
    html = page(admin_client)
    assert "disabled" in element(html, "enable")
    assert (
        "To enable, enter: Application (Client) ID, Client Secret, Directory (tenant) ID." in html
    )


def test_enable_names_only_what_is_still_missing(admin_client):
    save_settings(admin_client, client_id=CLIENT_ID, tenant=TENANT)
    html = page(admin_client)
    assert "disabled" in element(html, "enable")
    assert "To enable, enter: Client Secret." in html


def test_enable_is_available_once_all_three_are_saved(admin_client):
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    html = page(admin_client)
    assert "disabled" not in element(html, "enable")
    assert "To enable" not in html


@pytest.mark.app_config(**DEFAULTS)
def test_enable_is_available_from_configured_defaults(admin_client):
    html = page(admin_client)
    assert "disabled" not in element(html, "enable")
    assert "To enable" not in html


# Save Settings


def test_save_settings_stores_every_field(admin_client, app):
    response = save_settings(
        admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT
    )
    assert response.status_code == 302
    assert response.headers["Location"] == SETTINGS_PAGE
    stored = stored_settings(app)
    assert stored["client_id"] == CLIENT_ID
    assert stored["tenant"] == TENANT
    assert stored_secret(app) == CLIENT_SECRET
    html = page(admin_client)
    assert "Configuration saved" in html
    assert element(html, "client_secret")["placeholder"] == "•••••••• saved"


def test_save_settings_with_one_invalid_field_stores_nothing(admin_client, app):
    response = save_settings(
        admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant="contoso"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was saved: correct the fields marked below and save again." in html
    tenant = field_html(html, "tenant")
    assert "Enter the Directory (tenant) ID" in tenant
    assert 'aria-invalid="true"' in tenant
    assert "Enter the Directory (tenant) ID" not in field_html(html, "client_id")
    assert element(html, "client_id")["value"] == CLIENT_ID
    assert element(html, "tenant")["value"] == "contoso"
    assert stored_settings(app) == {
        "client_id": None,
        "client_secret_encrypted": None,
        "tenant": None,
    }
    assert "Configuration saved" not in page(admin_client)


def test_an_untouched_secret_keeps_the_saved_one(admin_client, app):
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    assert save_settings(admin_client, client_id=CLIENT_ID, tenant="common").status_code == 302
    assert stored_secret(app) == CLIENT_SECRET
    assert stored_settings(app)["tenant"] == "common"


def test_a_typed_secret_replaces_the_saved_one(admin_client, app):
    save_settings(admin_client, client_secret=CLIENT_SECRET)
    save_settings(admin_client, client_secret="New8Q~another.secret_value-123")
    assert stored_secret(app) == "New8Q~another.secret_value-123"


def test_a_guid_shaped_secret_is_saved_with_a_warning(admin_client, app):
    secret_id = "9f8e7d6c-5b4a-3921-8070-6f5e4d3c2b1a"
    assert save_settings(admin_client, client_secret=secret_id).status_code == 302
    assert stored_secret(app) == secret_id
    html = field_html(page(admin_client), "client_secret")
    assert "This looks like the secret&#39;s Secret ID, not its Value." in html


def test_client_id_is_trimmed_and_lower_cased(admin_client, app):
    save_settings(admin_client, client_id=f"  {CLIENT_ID.upper()}\t")
    assert stored_settings(app)["client_id"] == CLIENT_ID


def test_client_id_must_be_a_guid(admin_client, app):
    response = save_settings(admin_client, client_id="my-app")
    assert response.status_code == 422
    html = field_html(response.get_data(as_text=True), "client_id")
    assert "The Application (Client) ID is a GUID such as 00001111-aaaa-2222-bbbb-" in html
    assert stored_settings(app)["client_id"] is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("72F988BF-86F1-41AF-91AB-2D7CD011DB47", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("Contoso.OnMicrosoft.com", "contoso.onmicrosoft.com"),
        ("mail.example.co.uk", "mail.example.co.uk"),
        ("organizations", "organizations"),
        (" common ", "common"),
    ],
)
def test_tenant_accepts_a_guid_a_domain_or_a_keyword(admin_client, app, typed, stored):
    assert save_settings(admin_client, tenant=typed).status_code == 302
    assert stored_settings(app)["tenant"] == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("contoso", "Enter the Directory (tenant) ID (a GUID such as"),
        ("https://login.microsoftonline.com/common", "&#39;organizations&#39; / &#39;common&#39;"),
        ("-bad-.example.com", "a verified domain such as contoso.onmicrosoft.com"),
        ("consumers", "is for personal Microsoft accounts"),
        ("72f988bf-86f1-41af-91ab", "Enter the Directory (tenant) ID"),
    ],
)
def test_tenant_refuses_anything_else_and_says_what_is_accepted(admin_client, app, typed, message):
    response = save_settings(admin_client, tenant=typed)
    assert response.status_code == 422
    assert message in field_html(response.get_data(as_text=True), "tenant")
    assert stored_settings(app)["tenant"] is None


def test_an_empty_field_falls_back_to_the_default(admin_client, app):
    save_settings(admin_client, client_id=CLIENT_ID, tenant=TENANT)
    save_settings(admin_client, client_id="", tenant=TENANT)
    assert stored_settings(app)["client_id"] is None
    assert stored_settings(app)["tenant"] == TENANT


@pytest.mark.app_config(**DEFAULTS)
def test_ticking_use_default_in_the_form_forgets_the_saved_value(admin_client, app):
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    response = save_settings(
        admin_client,
        client_id=CLIENT_ID,
        client_id_use_default="y",
        client_secret_use_default="y",
        tenant=TENANT,
    )
    assert response.status_code == 302
    assert stored_settings(app) == {
        "client_id": None,
        "client_secret_encrypted": None,
        "tenant": TENANT,
    }


def test_a_field_left_out_of_the_post_is_kept(admin_client, app):
    save_settings(admin_client, client_id=CLIENT_ID, tenant=TENANT)
    response = admin_client.post(
        SETTINGS_PAGE,
        data={"tenant": "common", "csrf_token": element(page(admin_client), "csrf_token")["value"]},
    )
    assert response.status_code == 302
    assert stored_settings(app)["client_id"] == CLIENT_ID
    assert stored_settings(app)["tenant"] == "common"
