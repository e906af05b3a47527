"""Microsoft Settings in Chromium: live save, refused values, the secret, Enable's state, Copy."""

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.sync_api import expect

from .harness import CLIENT_ID, CLIENT_SECRET, PAGE, TENANT, save_field, stored_settings

OTHER_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
NO_RELOAD = "() => { window.pageNotReloaded = true; }"
STILL_SAME_PAGE = "() => window.pageNotReloaded === true"


def test_typing_a_client_id_and_leaving_the_field_saves_it_without_a_reload(admin_page, live):
    page = admin_page
    page.evaluate(NO_RELOAD)
    page.get_by_label("Application (Client) ID", exact=True).fill(f"  {CLIENT_ID.upper()} ")
    page.keyboard.press("Tab")

    field = page.locator("#field-client_id")
    expect(field.locator(".saved-mark")).to_have_text("Saved")
    expect(page.locator("#live-status")).to_have_text("Application (Client) ID saved.")
    expect(page.locator("#client_id")).to_have_value(CLIENT_ID)
    assert page.evaluate(STILL_SAME_PAGE)
    assert stored_settings(live)["client_id"] == CLIENT_ID


@pytest.mark.expected_failed_responses(422)
def test_a_refused_value_shows_its_error_in_place_and_stores_nothing(admin_page, live, check_accessibility):
    page = admin_page
    save_field(page, "client_id", CLIENT_ID)
    page.evaluate(NO_RELOAD)
    page.get_by_label("Application (Client) ID", exact=True).fill("not-a-guid")
    page.keyboard.press("Tab")

    error = page.locator("#client_id-error")
    expect(error).to_contain_text("Application (Client) ID")
    expect(error).to_have_attribute("role", "alert")
    field = page.get_by_label("Application (Client) ID", exact=True)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "client_id-hint client_id-error")
    expect(field).to_have_value("not-a-guid")
    expect(page.locator("#field-client_id .saved-mark")).to_have_count(0)
    assert page.evaluate(STILL_SAME_PAGE)
    assert stored_settings(live)["client_id"] == CLIENT_ID
    check_accessibility(page, "a refused value")

    field.fill(OTHER_CLIENT_ID)
    page.keyboard.press("Tab")
    expect(page.locator("#field-client_id .saved-mark")).to_be_visible()
    expect(error).to_have_count(0)
    expect(field).not_to_have_attribute("aria-invalid", "true")
    assert stored_settings(live)["client_id"] == OTHER_CLIENT_ID


def test_the_client_secret_is_never_shown_kept_when_untouched_replaced_when_typed(admin_page, live):
    page = admin_page
    secret = page.get_by_label("Client Secret", exact=True)
    expect(secret).to_have_attribute("type", "password")
    save_field(page, "client_secret", CLIENT_SECRET)
    expect(page.locator("#field-client_secret .saved-mark")).to_be_visible()
    expect(secret).to_have_value("")
    expect(secret).to_have_attribute("placeholder", "•••••••• saved")
    assert CLIENT_SECRET not in page.content()

    save_field(page, "tenant", TENANT)
    page.reload()
    expect(page.get_by_label("Client Secret", exact=True)).to_have_value("")
    assert CLIENT_SECRET not in page.content()
    page.get_by_role("button", name="Save Settings").click()
    expect(page.locator(".flash-success")).to_have_text("Configuration saved")
    assert stored_settings(live)["client_secret"] == CLIENT_SECRET

    replacement = "New8Q~replacement.secret_Value-2"
    save_field(page, "client_secret", replacement)
    expect(page.locator("#field-client_secret .saved-mark")).to_be_visible()
    assert replacement not in page.content()
    assert stored_settings(live)["client_secret"] == replacement


def test_enable_becomes_possible_as_the_fields_fill(admin_page):
    page = admin_page
    enable = page.get_by_role("button", name="Enable")
    hint = page.locator("#enable-hint")
    expect(enable).to_be_disabled()
    expect(enable).to_have_attribute("aria-describedby", "enable-hint")
    expect(hint).to_have_text(
        "To enable, enter: Application (Client) ID, Client Secret, Directory (tenant) ID."
    )

    save_field(page, "client_id", CLIENT_ID)
    expect(hint).to_have_text("To enable, enter: Client Secret, Directory (tenant) ID.")
    expect(enable).to_be_disabled()
    save_field(page, "client_secret", CLIENT_SECRET)
    expect(hint).to_have_text("To enable, enter: Directory (tenant) ID.")
    expect(enable).to_be_disabled()
    save_field(page, "tenant", TENANT)
    expect(enable).to_be_enabled()
    expect(page.get_by_role("button", name="Verify")).to_be_enabled()
    expect(hint).to_have_count(0)

    save_field(page, "tenant", "")
    expect(enable).to_be_disabled()
    expect(hint).to_have_text("To enable, enter: Directory (tenant) ID.")


def test_copy_puts_the_redirect_uri_on_the_clipboard(admin_page, live, context):
    page = admin_page
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    uri = page.get_by_label("Redirect URI")
    expect(uri).to_have_value(live.redirect_uri)
    expect(uri).to_have_js_property("readOnly", True)

    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#field-redirect_uri .copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == live.redirect_uri


def test_save_settings_stores_every_field_with_javascript_on(admin_page, live):
    page = admin_page
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    page.get_by_label("Client Secret", exact=True).fill(CLIENT_SECRET)
    page.get_by_label("Directory (tenant) ID", exact=True).fill(TENANT)
    page.get_by_role("button", name="Save Settings").click()

    expect(page.locator(".flash-success")).to_have_text("Configuration saved")
    expect(page.get_by_label("Application (Client) ID", exact=True)).to_have_value(CLIENT_ID)
    expect(page.get_by_role("button", name="Enable")).to_be_enabled()
    assert stored_settings(live) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "tenant": TENANT,
        "expires_on": None,
    }


@pytest.mark.expected_failed_responses(400)
def test_an_expired_csrf_token_says_to_reload_and_stores_nothing(admin_page, live, context):
    page = admin_page
    page.evaluate(
        "(token) => document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRFToken': token}))",
        _expired_csrf_token(live, context),
    )
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    page.keyboard.press("Tab")

    alert = page.locator("#page-alert")
    expect(alert).to_contain_text("Please reload the page.")
    expect(alert).to_contain_text("This page has expired or was sent without its security token")
    expect(alert.get_by_role("alert")).to_be_visible()
    expect(page.locator("#field-client_id .saved-mark")).to_have_count(0)
    assert stored_settings(live)["client_id"] is None


def test_back_after_htmx_swaps_shows_the_whole_page(admin_page, live):
    page = admin_page
    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "tenant", TENANT)
    page.goto(live.provider_url + "/error")
    expect(page.get_by_role("heading", level=1)).to_have_text("Look up an error code")

    page.go_back()
    expect(page).to_have_url(live.address(PAGE))
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft Settings")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#field-client_id")).to_have_count(1)
    expect(page.get_by_label("Application (Client) ID", exact=True)).to_have_value(CLIENT_ID)
    assert page.evaluate(
        "() => document.doctype !== null && document.querySelectorAll('html, head, body').length === 3"
    )

    save_field(page, "client_secret", CLIENT_SECRET)
    expect(page.get_by_role("button", name="Enable")).to_be_enabled()


def test_a_saved_field_is_announced_in_a_live_region_that_stays_in_place(admin_page):
    page = admin_page
    page.evaluate("() => { document.getElementById('live-status').dataset.original = 'yes'; }")
    save_field(page, "client_id", CLIENT_ID)
    status = page.locator("#live-status")
    expect(status).to_have_text("Application (Client) ID saved.")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_attribute("data-original", "yes")


def _expired_csrf_token(live, context) -> str:
    """Return the CSRF token this browser's session had when the page was opened long ago."""
    app = live.app
    cookie = next(cookie for cookie in context.cookies() if cookie["name"] == "session")
    session = app.session_interface.get_signing_serializer(app).loads(cookie["value"])
    limit = app.config["WTF_CSRF_TIME_LIMIT"]

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - limit - 60

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token", signer=LongAgo)
    return serializer.dumps(session["csrf_token"])
