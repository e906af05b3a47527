"""The watch on the browser and the axe check see what they must fail on, so their silence means something."""

import pytest
from playwright.sync_api import expect


def test_a_blocked_inline_script_and_a_console_error_are_seen(admin_page, problems):
    page = admin_page
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "document.title = 'inline script ran'";
          document.body.append(script);
          console.error("an error the test logs");
        }"""
    )
    expect(page).not_to_have_title("inline script ran")
    for _ in range(100):  # the reports reach Python a moment later
        if problems.csp_violations and problems.console_errors:
            break
        page.wait_for_timeout(20)
    assert any("script-src" in violation for violation in problems.csp_violations), problems
    assert any("an error the test logs" in text for text in problems.console_errors), problems
    problems.csp_violations.clear()
    problems.console_errors.clear()


def test_the_accessibility_check_fails_on_a_control_without_a_label(admin_page, check_accessibility):
    page = admin_page
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")
    with pytest.raises(AssertionError, match="critical label"):
        check_accessibility(page)
