"""First-admin setup, sign in and sign out in Chromium."""

import pytest
from playwright.sync_api import expect

from .harness import ADMIN, PAGE, PASSWORD, sign_in


@pytest.mark.every_width
@pytest.mark.parametrize("live_options", [{"admin": False}])
def test_first_admin_setup_then_sign_out_and_in(page, live, check_accessibility):
    page.goto(live.address("/"))
    expect(page).to_have_url(live.address("/setup"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to oroflask")
    check_accessibility(page, "the setup page")

    setup_code = (live.instance / "setup-code").read_text().strip()
    page.get_by_label("Setup code").fill(setup_code.lower())
    page.get_by_label("Administrator e-mail").fill("First.Admin@Example.com")
    page.get_by_label("Password", exact=True).fill("a long enough password")
    page.get_by_label("Repeat password").fill("a long enough password")
    page.get_by_role("button", name="Create administrator").click()

    expect(page).to_have_url(live.address(PAGE))
    expect(page.locator(".config-content .flash")).to_have_text("Administrator account created. Welcome!")
    check_accessibility(page, "the welcome")
    expect(page.get_by_text("first.admin@example.com")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(live.address("/login"))
    expect(page.locator(".flash")).to_have_text("You are signed out.")
    check_accessibility(page, "the login page")
    sign_in(page, live, "first.admin@example.com", "a long enough password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft Settings")

    page.goto(live.address("/setup"))
    expect(page).to_have_url(live.address(PAGE))


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_a_wrong_password_is_announced_at_its_field(page, live, check_accessibility):
    page.goto(live.address("/login"))
    page.get_by_label("E-mail").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD + " typo")
    page.get_by_role("button", name="Sign in").click()

    password = page.get_by_label("Password")
    error = page.locator("#password-error")
    expect(error).to_have_text("The e-mail address or the password is wrong.")
    expect(error).to_have_attribute("role", "alert")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "password-error")
    expect(password).to_be_focused()
    check_accessibility(page, "a refused sign-in")

    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(live.address(PAGE))


@pytest.mark.parametrize("live_options", [{"admin": False}])
@pytest.mark.expected_failed_responses(422)
def test_setup_shows_every_error_beside_its_field_and_keeps_the_passwords(page, live):
    page.goto(live.address("/setup"))
    page.get_by_label("Setup code").fill("000000-000000-000000")
    page.get_by_label("Administrator e-mail").fill("first.admin@example.com")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat password").fill("short")
    page.get_by_role("button", name="Create administrator").click()

    expect(page.locator("#setup_code-error")).to_contain_text("This is not the setup code.")
    expect(page.locator("#password-error")).to_have_text("Use at least 10 characters.")
    expect(page.get_by_label("Password", exact=True)).to_have_value("short")
    expect(page.get_by_label("Repeat password")).to_have_value("short")

    setup_code = (live.instance / "setup-code").read_text().strip()
    page.get_by_label("Setup code").fill(setup_code)
    page.get_by_label("Password", exact=True).fill("a long enough password")
    page.get_by_label("Repeat password").fill("a long enough password")
    page.get_by_role("button", name="Create administrator").click()
    expect(page).to_have_url(live.address(PAGE))
