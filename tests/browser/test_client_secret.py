"""The client secret in Chromium: a too short Value is warned about; a saved one can be removed."""

from playwright.sync_api import expect

from .harness import CLIENT_SECRET, save_field, stored_settings


def test_a_one_character_secret_is_warned_about(admin_page, live):
    page = admin_page
    save_field(page, "client_secret", "x")
    warning = page.locator("#client_secret-warning")
    expect(warning).to_contain_text("This looks too short for a client secret Value")
    expect(page.get_by_label("Client Secret", exact=True)).to_have_attribute(
        "aria-describedby", "client_secret-hint client_secret-warning"
    )

    save_field(page, "client_secret", CLIENT_SECRET)
    expect(warning).to_have_count(0)


def test_a_saved_secret_is_removed_after_confirmation(admin_page, live):
    page = admin_page
    save_field(page, "client_secret", CLIENT_SECRET)
    # In the colour of the page's other links, not the top bar's white: axe leaves its contrast
    # inside the fieldset undecided, so it would not notice white on white.
    colour = "element => getComputedStyle(element).color"
    remove = page.get_by_role("link", name="Remove the saved secret")
    assert remove.evaluate(colour) == page.locator(".tree-leaf").first.evaluate(colour)
    page.get_by_role("link", name="Remove the saved secret").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Remove the saved client secret?")
    page.get_by_role("link", name="Cancel").click()
    assert stored_settings(live)["client_secret"] == CLIENT_SECRET

    page.get_by_role("link", name="Remove the saved secret").click()
    page.get_by_role("button", name="Remove the secret").click()
    expect(page.locator(".flash-success")).to_have_text("The saved client secret is removed.")
    expect(page.get_by_label("Client Secret", exact=True)).not_to_have_attribute("placeholder", "•••••••• saved")
    expect(page.get_by_role("link", name="Remove the saved secret")).to_have_count(0)
    assert stored_settings(live)["client_secret"] is None
