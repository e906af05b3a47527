"""System › Users in Chromium: create an account with a one-time link and set its password in
another browser; reset a password; the live search."""

import pytest
from playwright.sync_api import expect

from oroflask.auth.models import User
from oroflask.extensions import db

from .harness import PASSWORD_HASH, sign_in

USERS = "/admin/users"
NEW_PASSWORD = "a passphrase of my own"


def add_users(live, *accounts: tuple[str, str]) -> None:
    with live.app.app_context():
        for email, name in accounts:
            db.session.add(User(email=email, name=name, role="user", password_hash=PASSWORD_HASH))
        db.session.commit()


def open_users(page, live) -> None:
    page.get_by_role("navigation", name="System Configuration").get_by_role("link", name="Users").click()
    expect(page).to_have_url(live.address(USERS))
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")


def set_password_in_another_browser(browser, live, problems, viewport, link: str, email: str):
    """Open `link` in a browser of its own, set the password and return that signed-in page."""
    other = browser.new_context(viewport=viewport)
    problems.watch(other)
    visitor = other.new_page()
    visitor.goto(link)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Set your password")
    expect(visitor.locator("main")).to_contain_text(email)
    visitor.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    visitor.get_by_label("Repeat new password").fill(NEW_PASSWORD)
    visitor.get_by_role("button", name="Set password").click()
    expect(visitor).to_have_url(live.address("/account"))
    expect(visitor.locator(".flash-success")).to_have_text("Your password is set. Welcome!")
    return other, visitor


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_create_a_user_with_a_link_that_sets_the_password(
    admin_page, live, browser, problems, viewport, check_accessibility
):
    page = admin_page
    open_users(page, live)
    check_accessibility(page, "the users page")
    page.get_by_role("link", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create user")
    expect(page.get_by_label("Make a one-time link")).to_be_checked()
    expect(page.get_by_label("User", exact=True)).to_be_checked()
    check_accessibility(page, "Create user")

    page.get_by_label("E-mail").fill("admin@example.com")
    page.get_by_label("Name").fill("Ann Example")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#email-error")).to_have_text("An account with this e-mail address already exists.")
    expect(page.get_by_label("E-mail")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "a refused e-mail")

    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account created")
    link = page.get_by_label("One-time link for ann@example.com")
    assert link.input_value().startswith(live.address("/password/"))
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.locator("#link-hint")).to_contain_text("oroflask sends no e-mail")
    check_accessibility(page, "the one-time link")

    other, visitor = set_password_in_another_browser(
        browser, live, problems, viewport, link.input_value(), "ann@example.com"
    )
    try:
        expect(visitor.locator(".account-identity")).to_contain_text("Ann Example")
        check_accessibility(visitor, "My account after the link")
    finally:
        other.close()


@pytest.mark.every_width
def test_reset_a_password_and_the_user_signs_in_with_the_new_link(
    admin_page, live, browser, problems, viewport, check_accessibility
):
    add_users(live, ("bob@example.com", "Bob Example"))
    page = admin_page
    open_users(page, live)
    page.get_by_role("link", name="bob@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("bob@example.com")
    check_accessibility(page, "an account's page")
    page.get_by_role("link", name="Reset password").click()
    expect(page.locator("#reset-question")).to_have_text("Reset the password of bob@example.com?")
    expect(page.get_by_role("link", name="Cancel")).to_be_focused()
    check_accessibility(page, "the confirmation of Reset password")
    page.get_by_role("button", name="Reset password and make a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password reset")
    link = page.get_by_label("One-time link for bob@example.com").input_value()

    other, visitor = set_password_in_another_browser(browser, live, problems, viewport, link, "bob@example.com")
    try:
        visitor.get_by_role("button", name="Sign out").click()
        sign_in_page = visitor
        sign_in_page.get_by_label("E-mail").fill("bob@example.com")
        sign_in_page.get_by_label("Password").fill(NEW_PASSWORD)
        sign_in_page.get_by_role("button", name="Sign in").click()
        expect(sign_in_page.get_by_role("heading", level=1)).to_have_text("My account")
    finally:
        other.close()


@pytest.mark.every_width
def test_live_search_filters_the_table(admin_page, live, check_accessibility):
    add_users(live, ("ann@example.com", "Ann Example"), ("bob@example.com", "Bob Builder"), ("carol@other.test", "Carol"))
    page = admin_page
    open_users(page, live)
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(4)
    page.get_by_label("Search by e-mail or name").press_sequentially("build")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob@example.com")
    expect(page).to_have_url(live.address(f"{USERS}?q=build"))
    expect(page.locator("#live-status")).to_have_text("1 account found.")
    check_accessibility(page, "a search")
    page.get_by_label("Search by e-mail or name").fill("nobody")
    expect(page.locator("#user-results")).to_contain_text("No account's e-mail or name contains “nobody”.")
    page.reload()
    expect(page.get_by_label("Search by e-mail or name")).to_have_value("nobody")
