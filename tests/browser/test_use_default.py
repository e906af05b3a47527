"""Use Default in Chromium: ticking forgets the saved value, unticking keeps the default editable."""

import pytest
from playwright.sync_api import expect

from .harness import settled, stored_settings

DEFAULT_CLIENT_ID = "ffffffff-1111-2222-3333-444444444444"
DEFAULT_SECRET = "Dz3~defaultSecretValue.from-config_0987"
OWN_CLIENT_ID = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


@pytest.fixture
def live_options():
    return {
        "MICROSOFT_CLIENT_ID": DEFAULT_CLIENT_ID,
        "MICROSOFT_CLIENT_SECRET": DEFAULT_SECRET,
        "MICROSOFT_TENANT": "organizations",
    }


def client_id_of_its_own(page):
    """Untick Use Default of the Application (Client) ID; return its checkbox and its input."""
    use_default = page.get_by_role("checkbox", name="Use Default for Application (Client) ID")
    client_id = page.get_by_label("Application (Client) ID", exact=True)
    use_default.click()
    expect(client_id).to_have_js_property("readOnly", False)
    settled(page)
    return use_default, client_id


def test_use_default_off_and_on_with_the_keyboard(admin_page, live):
    page = admin_page
    client_id = page.get_by_label("Application (Client) ID", exact=True)
    use_default = page.get_by_role("checkbox", name="Use Default for Application (Client) ID")
    expect(use_default).to_be_checked()
    expect(client_id).to_have_value(DEFAULT_CLIENT_ID)
    expect(client_id).to_have_js_property("readOnly", True)
    expect(page.get_by_role("button", name="Enable")).to_be_enabled()

    use_default.focus()
    page.keyboard.press("Space")
    expect(use_default).not_to_be_checked()
    expect(page.locator("#field-client_id .saved-mark")).to_be_visible()
    expect(client_id).to_have_js_property("readOnly", False)
    expect(client_id).to_have_value(DEFAULT_CLIENT_ID)
    expect(use_default).to_be_focused()
    assert stored_settings(live)["client_id"] == DEFAULT_CLIENT_ID

    page.keyboard.press("Shift+Tab")
    expect(client_id).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(OWN_CLIENT_ID)
    with page.expect_response(lambda response: response.url.endswith("/fields/client_id")):
        page.keyboard.press("Tab")
    settled(page)
    expect(client_id).to_have_value(OWN_CLIENT_ID)
    expect(use_default).to_be_focused()
    assert stored_settings(live)["client_id"] == OWN_CLIENT_ID

    page.keyboard.press("Space")
    expect(use_default).to_be_checked()
    expect(client_id).to_have_value(DEFAULT_CLIENT_ID)
    expect(client_id).to_have_js_property("readOnly", True)
    expect(use_default).to_be_focused()
    assert stored_settings(live)["client_id"] is None


def test_the_default_secret_is_not_shown_either(admin_page, live):
    page = admin_page
    secret = page.get_by_label("Client Secret", exact=True)
    expect(secret).to_have_value("")
    expect(secret).to_have_attribute("placeholder", "•••••••• default")

    page.get_by_role("checkbox", name="Use Default for Client Secret").click()
    expect(page.locator("#field-client_secret .saved-mark")).to_be_visible()
    expect(secret).to_have_attribute("placeholder", "•••••••• saved")
    expect(secret).to_have_value("")
    assert DEFAULT_SECRET not in page.content()
    assert stored_settings(live)["client_secret"] == DEFAULT_SECRET


def test_a_quick_change_after_typing_never_leaves_the_page_unlike_the_database(admin_page, live):
    """Typing, Tab and Space at once: two saves of one field race; the page shows what is stored."""
    page = admin_page
    use_default, client_id = client_id_of_its_own(page)

    client_id.fill(OWN_CLIENT_ID)
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    settled(page)

    stored = stored_settings(live)["client_id"]
    if stored is None:
        expect(use_default).to_be_checked()
        expect(client_id).to_have_value(DEFAULT_CLIENT_ID)
    else:
        assert stored == OWN_CLIENT_ID
        expect(use_default).not_to_be_checked()
        expect(client_id).to_have_value(OWN_CLIENT_ID)


def test_a_click_on_use_default_while_the_field_saves_is_not_lost(admin_page, live):
    page = admin_page
    use_default, client_id = client_id_of_its_own(page)

    held = []
    page.route("**/fields/client_id", lambda route: held.append(route))
    client_id.fill(OWN_CLIENT_ID)
    client_id.blur()
    while not held:
        page.wait_for_timeout(20)
    use_default.click()
    held[0].continue_()
    settled(page)

    expect(use_default).to_be_checked()
    expect(client_id).to_have_value(DEFAULT_CLIENT_ID)
    expect(client_id).to_have_js_property("readOnly", True)
    assert stored_settings(live)["client_id"] is None

