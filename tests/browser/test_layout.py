"""The layout of the pages at desktop and phone width: where messages stand, Save Settings in
reach, alerts that look like alerts, a Saved mark that moves nothing and goes away."""

import pytest
from playwright.sync_api import expect

from oroflask.connection.service import site_grant
from oroflask.extensions import db

from .harness import (
    CLIENT_ID,
    DESKTOP,
    PAGE,
    PHONE,
    TENANT,
    assert_no_horizontal_scroll,
    connect,
    save_field,
    settled,
    sign_in,
)

WRONG_SECRET = "Wrong8Q~this.is-not_the.registered.Value"
BAD_BACKGROUND = "rgb(253, 236, 234)"  # --bad-bg
BAD = "rgb(179, 38, 30)"  # --bad
SIGN_IN_WINDOW = {"width": 520, "height": 700}  # app.js opens the popup at this size
REVOKED = "Microsoft refused the stored sign-in (AADSTS50173): sign in again."
# Where each setting's row stands on the page, and how high it is.
ROWS = """() => [...document.querySelectorAll(".field")].map((row) => {
  const box = row.getBoundingClientRect();
  return [row.id, box.top + window.scrollY, box.height];
})"""


def style(locator, prop: str) -> str:
    return locator.evaluate("(element, prop) => getComputedStyle(element)[prop]", prop)


def expect_in_the_content_column(page, text: str) -> None:
    """The flash stands beside the configuration tree, and the form keeps its full width."""
    flash = page.locator(".config-content .flash").filter(has_text=text)
    expect(flash).to_be_visible()
    tree = page.locator(".config-tree").bounding_box()
    form = page.locator(".config-form").bounding_box()
    assert flash.bounding_box()["x"] >= tree["x"] + tree["width"]
    assert form["width"] >= 800, f"the form is squeezed to {form['width']} px"


def fill_with_a_wrong_secret(page) -> None:
    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret", WRONG_SECRET)
    save_field(page, "tenant", TENANT)


def mark_reconnect_needed(live) -> None:
    with live.app.app_context():
        site_grant().reconnect_reason = REVOKED
        db.session.commit()


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(400, 404)
def test_no_page_scrolls_sideways(page, live, viewport):
    page.goto(live.address("/login"))
    assert_no_horizontal_scroll(page)
    sign_in(page, live)
    assert_no_horizontal_scroll(page)
    bar = page.locator(".topbar").bounding_box()
    sign_out = page.get_by_role("button", name="Sign out").bounding_box()
    assert bar["y"] <= sign_out["y"] and sign_out["y"] + sign_out["height"] <= bar["y"] + bar["height"]
    assert sign_out["x"] + sign_out["width"] <= bar["x"] + bar["width"], "Sign out is off the bar"
    fill_with_a_wrong_secret(page)
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#verify-result .alert-error")).to_be_visible()
    settled(page)
    assert_no_horizontal_scroll(page)

    connect(page)
    assert_no_horizontal_scroll(page)
    mark_reconnect_needed(live)
    page.reload()
    expect(page.locator("#field-enable .state-bad")).to_be_visible()
    assert_no_horizontal_scroll(page)
    page.get_by_role("link", name="Disable").click()
    expect(page.get_by_role("button", name="Disable and delete tokens")).to_be_visible()
    assert_no_horizontal_scroll(page)

    for path in (PAGE + "/disable", "/oauth/microsoft/callback?state=forged", "/no-such-page"):
        page.goto(live.address(path))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_no_horizontal_scroll(page)
    if viewport == DESKTOP:  # the sign-in window's size
        page.set_viewport_size(SIGN_IN_WINDOW)
        page.goto(live.address("/oauth/microsoft/callback?state=forged"))
        assert_no_horizontal_scroll(page)


def test_flashes_stand_in_the_content_column(admin_page, live):
    page = admin_page
    save_field(page, "client_id", CLIENT_ID)
    page.get_by_role("button", name="Save Settings").click()
    expect_in_the_content_column(page, "Configuration saved")

    connect(page)
    page.get_by_role("link", name="Disable").click()
    page.get_by_role("button", name="Disable and delete tokens").click()
    expect_in_the_content_column(page, "Emails sync is disabled and the stored tokens are deleted.")


def test_the_system_tree_runs_the_height_of_the_window_beside_a_short_page(admin_page, live):
    page = admin_page
    page.goto(live.address("/admin/users"))
    tree = page.locator(".config-tree").bounding_box()
    assert tree["y"] + tree["height"] >= DESKTOP["height"] - 1


@pytest.mark.parametrize("context_options", [{"java_script_enabled": False}])
def test_an_error_flash_is_red_and_names_the_setting(admin_page):
    page = admin_page
    page.get_by_label("Application (Client) ID", exact=True).fill(CLIENT_ID)
    page.get_by_label("Client Secret", exact=True).fill(WRONG_SECRET)
    page.get_by_label("Directory (tenant) ID", exact=True).fill(TENANT)
    page.get_by_role("button", name="Save Settings").click()
    page.get_by_role("button", name="Verify").click()

    errors = page.locator(".flash-error")
    expect(errors).to_have_count(2)
    expect(errors.first).to_have_text("Verification failed: the Client Secret was refused.")
    expect(errors.nth(1)).to_contain_text("Client Secret: The client secret is wrong (AADSTS7000215).")
    expect(errors.first).to_have_attribute("role", "alert")
    assert style(errors.first, "backgroundColor") == BAD_BACKGROUND
    assert "marked" not in page.locator(".flashes").inner_text()
    expect_in_the_content_column(page, "Verification failed")


def test_reconnect_needed_is_an_alert_and_connected_is_no_call_to_enable(admin_page, live):
    page = admin_page
    connect(page)
    enable = page.locator("#enable")
    expect(enable).to_have_text("Reconnect")
    expect(enable).to_have_attribute("data-authorize", "")
    expect(enable).not_to_have_class("button primary")

    mark_reconnect_needed(live)
    page.reload()
    state = page.locator("#field-enable .state-bad")
    expect(state).to_have_attribute("role", "alert")
    expect(state).to_contain_text(REVOKED)
    assert style(state, "backgroundColor") == BAD_BACKGROUND
    assert style(state.locator("strong").first, "backgroundColor") == BAD
    expect(enable).to_have_text("Reconnect")
    expect(enable).to_have_class("button primary")


def test_disable_asks_in_a_danger_box_that_takes_the_keyboard(admin_page):
    page = admin_page
    connect(page)
    page.get_by_role("link", name="Disable").click()

    dialog = page.get_by_role("alertdialog", name="Disable emails sync and delete the stored tokens?")
    cancel = dialog.get_by_role("link", name="Cancel")
    expect(cancel).to_be_focused()
    assert style(dialog, "borderLeftColor") == BAD
    assert style(dialog, "backgroundColor") == BAD_BACKGROUND
    disable = dialog.get_by_role("button", name="Disable and delete tokens")
    assert style(disable, "backgroundColor") == BAD

    page.keyboard.press("Shift+Tab")
    expect(disable).to_be_focused()
    page.keyboard.press("Enter")
    expect_in_the_content_column(page, "Emails sync is disabled and the stored tokens are deleted.")


@pytest.mark.every_width
def test_save_settings_stays_in_reach_at_the_top(admin_page, live, viewport):
    page = admin_page
    save = page.get_by_role("button", name="Save Settings")
    expect(save).to_be_in_viewport()
    assert save.evaluate("(button) => button.form.id") == "settings-form"
    if viewport == DESKTOP:
        content = page.locator(".config-content").bounding_box()
        box = save.bounding_box()
        assert box["x"] > content["x"] + content["width"] / 2, "Save Settings is not at the right"

    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(save).to_be_in_viewport()
    save.click()
    expect(page.locator(".flash-success")).to_have_text("Configuration saved")


# Between the two: the width at which the mark, were its room not kept, would wrap to a line of its own.
NARROW_DESKTOP = {"width": 1150, "height": 800}


@pytest.mark.parametrize("viewport", [DESKTOP, NARROW_DESKTOP, PHONE], ids=["desktop", "narrow", "phone"])
def test_a_save_moves_nothing_and_its_mark_fades(admin_page):
    page = admin_page
    before = page.evaluate(ROWS)
    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret_expires_on", "2099-11-30")
    mark = page.locator("#field-client_id .saved-mark")
    expect(mark).to_be_visible()
    assert page.evaluate(ROWS) == before

    assert style(mark, "animationName") == "saved-fade"
    page.wait_for_function("(mark) => getComputedStyle(mark).opacity === '0'", arg=mark.element_handle())


@pytest.mark.parametrize("context_options", [{"reduced_motion": "reduce"}])
def test_with_reduced_motion_the_mark_goes_without_fading(admin_page):
    page = admin_page
    save_field(page, "client_id", CLIENT_ID)
    mark = page.locator("#field-client_id .saved-mark")
    assert style(mark, "animationName") == "saved-clear"
    assert style(mark, "animationTimingFunction") == "steps(1)"
    page.wait_for_function("(mark) => getComputedStyle(mark).opacity === '0'", arg=mark.element_handle())


def test_answers_of_verify_and_enable_stand_in_the_control_column(admin_page):
    page = admin_page
    controls = page.locator("#field-enable .field-control").bounding_box()["x"]
    fill_with_a_wrong_secret(page)
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#verify-result .alert-error")).to_be_visible()
    assert page.locator("#verify-result .alert").bounding_box()["x"] == controls

    connect(page)
    assert page.locator("#authorization-status .alert").bounding_box()["x"] == controls
