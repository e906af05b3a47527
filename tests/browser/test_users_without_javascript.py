"""System › Users with JavaScript turned off: Search, Create user and the link's page are plain forms."""

import pytest
from playwright.sync_api import expect

from .test_users import USERS, add_users


@pytest.fixture
def context_options():
    return {"java_script_enabled": False}


def test_search_create_and_set_the_password_without_javascript(admin_page, live):
    add_users(live, ("ann@example.com", "Ann Example"), ("bob@example.com", "Bob Builder"))
    page = admin_page
    page.goto(live.address(USERS))
    page.get_by_label("Search by e-mail or name").fill("builder")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(live.address(f"{USERS}?q=builder"))
    expect(page.locator("table.users tbody tr")).to_have_count(1)

    page.get_by_role("link", name="Create user").click()
    page.get_by_label("E-mail").fill("carol@example.com")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account created")
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()
    link = page.get_by_label("One-time link for carol@example.com").input_value()

    page.get_by_role("button", name="Sign out").click()
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("carol's own passphrase")
    page.get_by_label("Repeat new password").fill("carol's own passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.locator(".account-identity")).to_contain_text("carol@example.com")
