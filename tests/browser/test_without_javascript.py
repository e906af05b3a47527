"""Microsoft Settings with JavaScript turned off: Save Settings is a plain form that still works."""

import pytest
from playwright.sync_api import expect

from .harness import CLIENT_ID, CLIENT_SECRET, TENANT, stored_settings


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
