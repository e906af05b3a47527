"""Enable in Chromium: the sign-in popup, the status that polls until it ends, and its outcome."""

import re

import pytest
from playwright.sync_api import expect

from .harness import ACCOUNT, CLIENT_ID, CLIENT_SECRET, TENANT, save_field, stored_connection

# More than two poll intervals (the status polls every 2 s): a poller still running shows twice.
QUIET_AFTER_THE_END_MS = 4500


@pytest.fixture
def filled_page(admin_page):
    """Return the settings page with the three values of the identity provider's application."""
    save_field(admin_page, "client_id", CLIENT_ID)
    save_field(admin_page, "client_secret", CLIENT_SECRET)
    save_field(admin_page, "tenant", TENANT)
    return admin_page


@pytest.fixture
def polls(page) -> list[str]:
    """Record every request of the authorization status poll."""
    urls = []
    poll = re.compile(r"/authorization/[^/]+$")

    def record(request) -> None:
        if request.method == "GET" and poll.search(request.url):
            urls.append(request.url)

    page.on("request", record)
    return urls


def open_sign_in(page):
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Enable").click()
    popup = opened.value
    expect(popup.get_by_role("heading", level=1)).to_have_text(re.compile("^Sign in to "))
    return popup


def expect_no_more_polls(page, polls: list[str]) -> None:
    status = page.locator("#authorization-status")
    expect(status).not_to_have_attribute("hx-trigger", re.compile("."))
    seen = len(polls)
    page.wait_for_timeout(QUIET_AFTER_THE_END_MS)
    assert polls[seen:] == [], "the status kept polling after it ended"


def test_enable_signs_in_through_the_popup_to_the_green_message(
    filled_page, live, polls, check_accessibility
):
    page = filled_page
    popup = open_sign_in(page)
    expect(page.locator("#authorization-status")).to_contain_text("Waiting for Microsoft")
    popup.get_by_role("button", name="Accept").click()

    success = page.locator("#authorization-status .alert-success")
    expect(success).to_have_text(f"Authorization succeeded: connected as {ACCOUNT}")
    expect(page.locator("#field-enable .state-ok")).to_contain_text(f"Connected as {ACCOUNT}")
    expect(page.get_by_role("link", name="Disable")).to_be_visible()
    assert stored_connection(live) == ACCOUNT
    expect_no_more_polls(page, polls)
    assert popup.is_closed(), "the popup stays open after a success"
    check_accessibility(page, "connected")


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(400)
def test_a_wrong_secret_ends_in_a_red_explained_error(admin_page, live, polls, check_accessibility):
    page = admin_page
    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret", "Wrong8Q~this.is-not_the.registered.Value")
    save_field(page, "tenant", TENANT)
    popup = open_sign_in(page)
    popup.get_by_role("button", name="Accept").click()
    expect(popup.get_by_role("alert")).to_contain_text("The client secret is wrong.")
    check_accessibility(popup, "the sign-in window's error")

    error = page.locator("#authorization-status .alert-error")
    expect(error).to_contain_text("The client secret is wrong.")
    expect(error).to_contain_text("Paste the secret's Value")
    expect(error).to_contain_text("Error: AADSTS7000215.")
    expect(page.locator("#field-enable .state")).to_have_text("Not connected.")
    assert stored_connection(live) is None
    expect_no_more_polls(page, polls)
    check_accessibility(page, "a refused authorization")


@pytest.mark.expected_failed_responses(400)
def test_cancelling_the_sign_in_says_so_in_red(filled_page, live):
    page = filled_page
    popup = open_sign_in(page)
    popup.get_by_role("button", name="Cancel").click()

    error = page.locator("#authorization-status .alert-error")
    expect(error).to_contain_text("The permissions were declined.")
    expect(error).to_contain_text("Click Enable again and accept the permissions")
    expect(error).to_contain_text("Error: AADSTS65004.")
    expect(page.locator("#authorization-status")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert stored_connection(live) is None


def test_closing_the_sign_in_window_says_so_in_red(filled_page, live):
    page = filled_page
    popup = open_sign_in(page)
    popup.close()

    error = page.locator("#authorization-status .alert-error")
    expect(error).to_contain_text("The sign-in window was closed before the authorization finished.")
    expect(error).to_contain_text("Click Enable to try again.")
    expect(page.locator("#authorization-status")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert stored_connection(live) is None


def test_the_outcome_is_announced_by_a_live_region_that_stays_in_place(filled_page):
    page = filled_page
    region = page.locator("#authorization-status").locator("..")
    expect(region).to_have_attribute("aria-live", "polite")
    region.evaluate("(element) => { element.dataset.original = 'yes'; }")
    popup = open_sign_in(page)
    popup.get_by_role("button", name="Accept").click()

    expect(page.locator("#authorization-status .alert-success")).to_be_visible()
    expect(page.locator("[data-original=yes] > #authorization-status .alert-success")).to_be_visible()
