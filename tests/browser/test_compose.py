"""Compose in Chromium: write a message from the connected mailbox, send it, and watch the poller
go from queued to Sent. SMTP is an Exchange-like stand-in on loopback (the real Dovecot's tests
are in tests/sending/); the worker's task runs here, as the worker would."""

import pytest
from playwright.sync_api import expect

from tests.mailboxes.conftest import run_queued
from tests.mailservers.conftest import smtp_stand_in  # noqa: F401  (a fixture)

from .harness import connect

RECIPIENT = "alex@contoso.onmicrosoft.com"


@pytest.fixture
def smtp_server(smtp_stand_in):  # noqa: F811
    return smtp_stand_in()


@pytest.fixture
def live_options(smtp_server) -> dict:
    return {"MICROSOFT_SMTP_HOST": "127.0.0.1", "MICROSOFT_SMTP_PORT": smtp_server.port, "MICROSOFT_SMTP_SECURITY": "none"}


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_compose_and_send_then_the_poller_ends_in_sent(admin_page, live, smtp_server, check_accessibility):
    page = admin_page
    connect(page)
    page.get_by_role("link", name="My mailbox").click()
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connect with Microsoft 365").click()
    opened.value.get_by_role("button", name="Accept").click()
    expect(page.locator("#mailbox .state-ok")).to_contain_text("Connected as", timeout=15_000)

    page.goto(live.address("/mail/compose"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New message")
    check_accessibility(page, "compose")
    page.get_by_label("To").fill("not an address")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#to-error")).to_have_text("not an address is not an e-mail address.")
    check_accessibility(page, "a refused address")

    page.get_by_label("To").fill(RECIPIENT)
    page.get_by_label("Subject").fill("Hello from the browser")
    page.get_by_label("Message").fill("First line.\nSecond line.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#outgoing-state")).to_contain_text("Queued")
    assert run_queued(live.app) == 1

    expect(page.locator("#outgoing-state")).to_contain_text("Sent", timeout=10_000)
    assert page.locator("#outgoing-state").evaluate("node => node.closest('[hx-trigger]')") is None
    check_accessibility(page, "sent")
    assert b"Subject: Hello from the browser" in smtp_server.messages[0]
