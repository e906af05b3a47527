"""The settings page with the keyboard alone, and axe-core on the states the page goes through."""

from datetime import date

import pytest
from playwright.sync_api import expect

from oroflask.devidp.directory import DEFAULT_SECRET_ID

from .harness import ACCOUNT, CLIENT_ID, CLIENT_SECRET, TENANT, save_field, stored_settings

FOCUSED = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  const name = element.id || element.getAttribute("aria-label") || element.textContent.trim();
  return {name, outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0};
}"""


def tab_order(page, stop: str, limit: int = 40) -> list[str]:
    """Press Tab from the top of the page until `stop` has the focus; return who had it, in turn."""
    names = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused["outline"], f"{focused['name']} shows no focus outline"
        if not names or names[-1] != focused["name"]:
            names.append(focused["name"])
        if focused["name"] == stop:
            return names
    raise AssertionError(f"Tab never reached {stop}: {names}")


def test_tab_reaches_every_control_in_reading_order(admin_page):
    page = admin_page
    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret", CLIENT_SECRET)
    save_field(page, "tenant", TENANT)
    page.reload()

    assert tab_order(page, stop="verify") == [
        "Skip to content",
        "oroflask",
        "System",
        "Mail",
        "My mailbox",
        "My account",
        "Sign out",
        "Microsoft Settings",
        "System mailboxes",
        "Users",
        "Audit log",
        "Save Settings",
        "client_id",
        "client_secret",
        "client_secret-remove",
        "client_secret_expires_on",
        "tenant",
        "redirect_uri",
        "Copy",
        "enable",
        "verify",
    ]


def test_the_whole_setup_with_the_keyboard_alone(admin_page, live):
    page = admin_page
    page.get_by_label("Application (Client) ID", exact=True).focus()
    page.keyboard.type(CLIENT_ID)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Client Secret", exact=True)).to_be_focused()
    page.keyboard.type(CLIENT_SECRET)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Client secret expires on")).to_be_focused()
    page.keyboard.type("11302099")
    tenant = page.get_by_label("Directory (tenant) ID", exact=True)
    press_tab_until(page, tenant)
    page.keyboard.type(TENANT)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Redirect URI")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy")).to_be_focused()
    expect(page.locator("#field-tenant .saved-mark")).to_be_visible()
    expect(page.locator("#field-client_secret_expires_on .saved-mark")).to_be_visible()

    page.keyboard.press("Tab")
    enable = page.get_by_role("button", name="Enable")
    expect(enable).to_be_focused()
    with page.expect_popup() as opened:
        page.keyboard.press("Enter")
    popup = opened.value
    press_tab_until(popup, popup.get_by_role("button", name="Accept"))
    popup.keyboard.press("Enter")

    expect(page.locator("#authorization-status .alert-success")).to_have_text(
        f"Authorization succeeded: connected as {ACCOUNT}"
    )
    assert stored_settings(live)["expires_on"] == date(2099, 11, 30)


def press_tab_until(page, target, limit: int = 20) -> None:
    """Press Tab until `target` has the focus (a date input holds it for several presses)."""
    for _ in range(limit):
        if target.evaluate("(element) => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_axe_finds_nothing_serious_in_the_states_of_the_page(admin_page, check_accessibility):
    page = admin_page
    check_accessibility(page, "the empty page")

    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret", DEFAULT_SECRET_ID)
    save_field(page, "tenant", TENANT)
    expect(page.locator("#client_secret-warning")).to_contain_text("Secret ID")
    page.get_by_label("Client secret expires on").fill("2000-01-02")
    page.get_by_label("Client secret expires on").blur()
    expect(page.locator("#client_secret_expires_on-warning")).to_contain_text("expired")
    check_accessibility(page, "warnings")

    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#client_secret-error")).to_contain_text("The client secret is wrong")
    expect(page.locator("#verify-result .alert-error")).to_be_visible()
    expect(page.get_by_label("Client Secret", exact=True)).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "a failed Verify")

    save_field(page, "tenant", "no such tenant")
    expect(page.locator("#tenant-error")).to_be_visible()
    check_accessibility(page, "a refused value")
