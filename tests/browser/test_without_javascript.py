"""Microsoft Settings with JavaScript turned off: Save Settings is a plain form that still works."""

import re

import pytest
from playwright.sync_api import expect

from .harness import ACCOUNT, CLIENT_ID, CLIENT_SECRET, TENANT, stored_connection, stored_settings


@pytest.fixture
def context_options():
    return {"java_script_enabled": False}


@pytest.mark.every_width
def test_save_settings_stores_every_field(admin_page, live):
    page = admin_page
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    page.get_by_label("Client Secret", exact=True).fill(CLIENT_SECRET)
    page.get_by_label("Directory (tenant) ID", exact=True).fill(TENANT)
    page.get_by_role("button", name="Save Settings").click()

    expect(page.locator(".flash-success")).to_have_text("Configuration saved")
    expect(page.get_by_label("Application (Client) ID", exact=True)).to_have_value(CLIENT_ID)
    expect(page.get_by_label("Client Secret", exact=True)).to_have_value("")
    expect(page.get_by_role("button", name="Enable")).to_be_enabled()
    assert stored_settings(live)["client_secret"] == CLIENT_SECRET

    page.get_by_label("Directory (tenant) ID", exact=True).fill("organizations")
    page.get_by_role("button", name="Save Settings").click()
    expect(page.locator(".flash-success")).to_have_text("Configuration saved")
    assert stored_settings(live) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "tenant": "organizations",
        "expires_on": None,
    }


@pytest.mark.expected_failed_responses(422)
def test_a_refused_value_saves_nothing_and_stands_next_to_its_field(admin_page, live):
    page = admin_page
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    page.get_by_label("Client Secret", exact=True).fill(CLIENT_SECRET)
    page.get_by_label("Directory (tenant) ID", exact=True).fill("contoso")
    page.get_by_role("button", name="Save Settings").click()

    expect(page.get_by_role("alert").first).to_have_text(
        "Nothing was saved: correct the fields marked below and save again."
    )
    tenant = page.get_by_label("Directory (tenant) ID", exact=True)
    expect(tenant).to_have_attribute("aria-invalid", "true")
    expect(tenant).to_have_value("contoso")
    expect(page.locator("#tenant-error")).to_contain_text("Enter the Directory (tenant) ID")
    expect(page.locator("#client_secret-error")).to_have_count(0)
    assert stored_settings(live)["client_id"] is None
    assert stored_settings(live)["client_secret"] is None


def test_a_saved_secret_is_removed_after_confirmation(admin_page, live):
    page = admin_page
    page.get_by_label("Client Secret", exact=True).fill(CLIENT_SECRET)
    page.get_by_role("button", name="Save Settings").click()
    page.get_by_role("link", name="Remove the saved secret").click()
    page.get_by_role("button", name="Remove the secret").click()
    expect(page.locator(".flash-success")).to_have_text("The saved client secret is removed.")
    assert stored_settings(live)["client_secret"] is None


def connect_in_the_same_window(page, live) -> None:
    """Save the identity provider's application, click Enable and accept the sign-in."""
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    page.get_by_label("Client Secret", exact=True).fill(CLIENT_SECRET)
    page.get_by_label("Directory (tenant) ID", exact=True).fill(TENANT)
    page.get_by_role("button", name="Save Settings").click()
    expect(page.locator(".flash-success")).to_have_text("Configuration saved")

    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Sign in to "))
    assert page.url.startswith(live.provider_url)
    page.get_by_role("button", name="Accept").click()
    expect(page).to_have_url(live.address())


def test_enable_signs_in_in_the_same_window(admin_page, live):
    page = admin_page
    connect_in_the_same_window(page, live)
    expect(page.locator(".flash-success")).to_have_text(f"Authorization succeeded: connected as {ACCOUNT}")
    expect(page.locator("#field-enable .state-ok")).to_contain_text(f"Connected as {ACCOUNT}")
    assert stored_connection(live) == ACCOUNT


def test_enter_in_a_field_saves_the_settings_rather_than_pressing_enable(admin_page, live):
    page = admin_page
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    page.get_by_label("Application (Client) ID", exact=True).press("Enter")
    expect(page.locator(".flash-success")).to_have_text("Configuration saved")
    assert stored_settings(live)["client_id"] == CLIENT_ID


def test_save_settings_asks_before_it_ends_the_connection(admin_page, live):
    page = admin_page
    connect_in_the_same_window(page, live)
    page.get_by_label("Application (Client) ID", exact=True).fill("11111111-2222-3333-4444-555555555555")
    page.get_by_role("button", name="Save Settings").click()

    question = page.get_by_role("alertdialog")
    expect(question).to_contain_text("Save these settings and end the working connection?")
    expect(question).to_contain_text(f"connected as {ACCOUNT}")
    assert stored_settings(live)["client_id"] == CLIENT_ID
    question.get_by_role("link", name="Cancel").click()
    expect(page.get_by_label("Application (Client) ID", exact=True)).to_have_value(CLIENT_ID)

    page.get_by_label("Application (Client) ID", exact=True).fill("11111111-2222-3333-4444-555555555555")
    page.get_by_role("button", name="Save Settings").click()
    page.get_by_role("button", name="Save and end the connection").click()
    expect(page.locator(".flash-success")).to_have_text("Configuration saved")
    expect(page.locator("#field-enable .state-bad")).to_contain_text("Reconnect needed")
    assert stored_settings(live)["client_id"] == "11111111-2222-3333-4444-555555555555"
