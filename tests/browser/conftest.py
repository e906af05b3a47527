"""Fixtures of the browser tests: the app served for real, Debian's Chromium, a page per test.

Every test fails when a page logs a console error, throws, or breaks the Content Security Policy,
and when a page of the app it leaves open scrolls sideways. Tests run at desktop width; those
marked `@pytest.mark.every_width` run at phone width too.

A test that deliberately provokes an error answer (a 422 of a refused value, the 400 of an expired
CSRF token) names its status with `@pytest.mark.expected_failed_responses(422)`: Chromium logs
every 4xx answer as a console error, and only those are let through.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from . import harness

expect.set_options(timeout=10_000)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "expected_failed_responses(*statuses): HTTP statuses this test provokes on purpose, "
        "whose 'Failed to load resource' console errors are not failures",
    )
    config.addinivalue_line("markers", "every_width: run this test at desktop and at phone width")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("every_width"):
        metafunc.parametrize("viewport", [harness.DESKTOP, harness.PHONE], ids=["desktop", "phone"])


def pytest_collection_modifyitems(items):
    """Stop a browser test that hangs (a page that never answers) after a minute."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(60))


def _require(path, what: str, install: str) -> None:
    if path.exists():
        return
    message = f"{what} is missing ({path}): {install}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """Start Debian's Chromium once for the session; skip (fail in CI) when it is not installed."""
    _require(harness.CHROMIUM, "Debian's chromium", harness.INSTALL_CHROMIUM)
    with sync_playwright() as playwright:
        browser = harness.launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """Return axe-core's script; skip (fail in CI) when npm has not installed it."""
    _require(harness.AXE, "axe-core", harness.INSTALL_AXE)
    return harness.AXE.read_text()


@pytest.fixture
def live_options() -> dict:
    """Return the options of the live app (`admin`, configuration keys); tests override this."""
    return {}


@pytest.fixture
def live(tmp_path, live_options):
    """Serve a fresh app over a migrated database, with its administrator and identity provider."""
    with harness.live_app(tmp_path / "instance", **live_options) as live:
        yield live


@pytest.fixture
def context_options() -> dict:
    """Return options of the browser context (java_script_enabled=False, ...); tests override this."""
    return {}


@pytest.fixture
def problems(request):
    """Collect the console errors, page errors and CSP violations; fail the test if any occurred."""
    problems = harness.Problems()
    yield problems
    marker = request.node.get_closest_marker("expected_failed_responses")
    statuses = "|".join(str(status) for status in marker.args) if marker else None
    expected = re.compile(rf"Failed to load resource: the server responded with a status of ({statuses}) ")
    unexpected = [text for text in problems.console_errors if not (statuses and expected.search(text))]
    found = unexpected + problems.page_errors + problems.csp_violations
    if found:
        pytest.fail("The browser reported problems:\n" + "\n".join(found), pytrace=False)


@pytest.fixture
def viewport() -> dict:
    """Return the window size of the test: desktop (both sizes in turn with `every_width`)."""
    return harness.DESKTOP


@pytest.fixture
def context(browser, live, problems, context_options, viewport):
    """Open a fresh browser context (cookies, storage) for one test, its problems watched.

    At the end, each page of the app still open must fit its window's width.
    """
    context = browser.new_context(viewport=viewport, **context_options)
    problems.watch(context)
    yield context
    try:
        for page in context.pages:
            if page.url.startswith(live.url):
                harness.assert_no_horizontal_scroll(page)
    finally:
        context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def admin_page(page, live):
    """Return a page signed in as the administrator, on Microsoft Settings."""
    harness.sign_in(page, live)
    return page


@pytest.fixture
def check_accessibility(axe_source):
    """Return a check that runs axe-core on a page and fails on serious or critical violations,
    or when the page scrolls sideways (WCAG 1.4.10, which axe does not check).

    axe is evaluated through the DevTools protocol, which the page's CSP does not govern, so the
    page keeps its real policy (no bypass_csp) and the CSP listener keeps watching.
    """

    def check(page, context: str = "") -> None:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(axe_source)
        # A fading mark ("Saved") is measured as it is first shown, not at whatever opacity the
        # fade has reached: its animations are held at their start while axe runs, then go on.
        violations = page.evaluate(
            """async () => {
                const running = document.getAnimations().filter((a) => a.playState === "running");
                const times = running.map((a) => a.currentTime);
                running.forEach((a) => { a.pause(); a.currentTime = 0; });
                try {
                    return (await axe.run(document, {resultTypes: ["violations"]})).violations
                        .filter((v) => v.impact === "serious" || v.impact === "critical")
                        .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(", ")})`);
                } finally {
                    running.forEach((a, i) => { a.currentTime = times[i]; a.play(); });
                }
            }"""
        )
        assert not violations, f"axe on {context or page.url}:\n" + "\n".join(violations)
        harness.assert_no_horizontal_scroll(page)

    return check
