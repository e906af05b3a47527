"""My account in Chromium: Change password, and signing another browser out."""

import pytest
from playwright.sync_api import expect

from oroflask.auth.models import User
from oroflask.extensions import db

from .harness import ADMIN, PAGE, PASSWORD, PASSWORD_HASH, assert_no_horizontal_scroll, sign_in

USER = "user@example.com"
NEW_PASSWORD = "a brand new passphrase"


def add_user(live, email: str = USER) -> None:
    with live.app.app_context():
        db.session.add(User(email=email, role="user", password_hash=PASSWORD_HASH))
        db.session.commit()


def sign_in_as_user(page, live) -> None:
    page.goto(live.address("/login"))
    page.get_by_label("E-mail").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.address("/account"))


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_change_ones_password_then_sign_in_with_it(admin_page, live, check_accessibility):
    page = admin_page
    page.get_by_role("link", name="My account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.locator(".this-browser")).to_have_text("This browser")
    check_accessibility(page, "My account")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(ADMIN)
    page.get_by_label("Repeat new password").fill(ADMIN)
    page.get_by_role("button", name="Change password").click()
    new_password = page.get_by_label("New password", exact=True)
    expect(page.locator("#new_password-error")).to_have_text("Do not use your e-mail address as your password.")
    expect(new_password).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "a refused new password")

    page.get_by_label("Current password").fill(PASSWORD)
    new_password.fill(NEW_PASSWORD)
    page.get_by_label("Repeat new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flash-success")).to_have_text("Password changed; your other sessions were signed out.")
    expect(page).to_have_url(live.address("/account"))

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(live.address("/login"))
    sign_in(page, live, ADMIN, NEW_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft Settings")


@pytest.mark.every_width
def test_sign_out_another_browser(browser, context, page, live, problems, viewport, check_accessibility):
    add_user(live)
    sign_in_as_user(page, live)
    other = browser.new_context(viewport=viewport, user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
    problems.watch(other)
    try:
        phone = other.new_page()
        sign_in_as_user(phone, live)

        page.reload()
        sessions = page.locator(".session")
        expect(sessions).to_have_count(2)
        expect(sessions.first.locator(".this-browser")).to_have_text("This browser")
        expect(sessions.nth(1).locator(".session-browser")).to_have_text("Firefox on Linux")
        check_accessibility(page, "the account's sessions")
        sessions.nth(1).get_by_role("button", name="Sign out").click()
        expect(page.locator(".flash-success")).to_have_text("That browser is signed out.")
        expect(page.locator(".session")).to_have_count(1)
        expect(page.get_by_role("button", name="Sign out everywhere else")).to_have_count(0)

        phone.reload()
        expect(phone).to_have_url(live.address("/login?next=/account"))
        expect(phone.get_by_role("heading", level=1)).to_have_text("Sign in")
        assert_no_horizontal_scroll(phone)
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    finally:
        other.close()


def test_a_user_starts_on_the_account_page(page, live):
    add_user(live)
    page.goto(live.address("/"))
    sign_in_as_user(page, live)
    expect(page.get_by_role("link", name="My account")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="oroflask").click()
    expect(page).to_have_url(live.address("/account"))
    expect(page.get_by_role("link", name="System")).to_have_count(0)
    assert PAGE not in page.content()
