"""Enable in Chromium: the sign-in popup, the status that polls until it ends, and its outcome."""

import re

import pytest
from playwright.sync_api import expect

from .harness import ACCOUNT, CLIENT_ID, CLIENT_SECRET, TENANT, save_field, sign_in, stored_connection

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
    poll = re.compile(r"/attempts/[^/]+$")

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


def test_enable_again_while_the_first_window_is_open_ends_with_the_newest_outcome(page, live):
    """The second Enable reuses the first window; its closing is the newest attempt's, not the first's.

    The page's clock stands still, so that the window watchers (one per Enable, before the fix) fire
    in the order they were set up, and no status poll reports the success before the window closes.
    """
    page.clock.install()
    sign_in(page, live)
    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret", CLIENT_SECRET)
    save_field(page, "tenant", TENANT)
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)

    popup = open_sign_in(page)
    first_sign_in = popup.url
    with page.expect_response(lambda response: response.url.endswith("/authorization")):
        page.get_by_role("button", name="Enable").click()
    expect(popup).not_to_have_url(first_sign_in)
    popup.get_by_role("button", name="Accept").click()
    expect(popup.locator(".alert-success")).to_contain_text(f"connected as {ACCOUNT}")
    popup.close()

    with page.expect_response(lambda response: response.url.endswith("/closed")):
        page.clock.run_for(1000)
    expect(page.locator("#authorization-status .alert-success")).to_have_text(
        f"Authorization succeeded: connected as {ACCOUNT}"
    )
    expect(page.locator("#authorization-status .alert-error")).to_have_count(0)
    assert stored_connection(live) == ACCOUNT


def test_enable_right_after_typing_uses_the_value_typed(admin_page, live):
    """The field's live save and Enable go out together; Enable must not use the older value."""
    page = admin_page
    save_field(page, "client_id", "11111111-2222-3333-4444-555555555555")
    save_field(page, "client_secret", CLIENT_SECRET)
    save_field(page, "tenant", TENANT)

    held = []
    page.route("**/fields/client_id", lambda route: held.append(route))
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    popup = open_sign_in(page)
    assert held, "the live save of the field went out"
    expect(popup).to_have_url(re.compile(f"[?&]client_id={CLIENT_ID}(&|$)"))
    held[0].continue_()

    popup.get_by_role("button", name="Accept").click()
    expect(page.locator("#authorization-status .alert-success")).to_have_text(
        f"Authorization succeeded: connected as {ACCOUNT}"
    )
    expect(page.get_by_label("Application (Client) ID", exact=True)).to_have_value(CLIENT_ID)
    assert stored_connection(live) == ACCOUNT


def test_changing_what_a_working_connection_belongs_to_asks_first(filled_page, live, check_accessibility):
    page = filled_page
    popup = open_sign_in(page)
    popup.get_by_role("button", name="Accept").click()
    expect(page.locator("#field-enable .state-ok")).to_contain_text(f"Connected as {ACCOUNT}")

    client_id = page.get_by_label("Application (Client) ID", exact=True)
    client_id.fill("11111111-2222-3333-4444-555555555555")
    client_id.blur()
    question = page.locator("#field-client_id").get_by_role("alertdialog")
    expect(question).to_contain_text("Change the Application (Client) ID of the working connection?")
    expect(question).to_contain_text("mail sync stops until someone clicks Enable again")
    keep = question.get_by_role("button", name="Keep the current value")
    expect(keep).to_be_focused()
    check_accessibility(page, "the question before ending the connection")
    keep.click()
    expect(question).to_have_count(0)
    expect(client_id).to_have_value(CLIENT_ID)
    expect(page.locator("#field-enable .state-ok")).to_contain_text(f"Connected as {ACCOUNT}")

    tenant = page.get_by_label("Directory (tenant) ID", exact=True)
    tenant.fill("fabrikam.onmicrosoft.com")
    tenant.blur()
    page.get_by_role("button", name="Change it and end the connection").click()
    expect(page.locator("#field-tenant .saved-mark")).to_be_visible()
    expect(page.locator("#field-enable .state-bad")).to_contain_text("Reconnect needed")
    expect(page.get_by_role("button", name="Reconnect")).to_be_visible()
