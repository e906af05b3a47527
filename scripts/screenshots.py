"""Take the README's screenshots of the settings page in Debian's Chromium.

Uses the browser tests' setup (tests/browser/harness.py): the app and the local identity provider
on loopback ports with a throw-away instance folder, and the same Chromium. Signs in, and
photographs the page empty, filled, connected and with an error:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

import argparse
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.harness import (  # noqa: E402
    CHROMIUM,
    CLIENT_ID,
    CLIENT_SECRET,
    INSTALL_CHROMIUM,
    TENANT,
    launch,
    save_field,
    sign_in,
    temporary_live_app,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots", type=Path)
    out = parser.parse_args().out
    if not CHROMIUM.exists():
        sys.exit(f"Debian's chromium is missing ({CHROMIUM}): {INSTALL_CHROMIUM}")
    out.mkdir(parents=True, exist_ok=True)
    with temporary_live_app() as live, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            photograph(browser.new_page(viewport={"width": 1280, "height": 900}), live, out)
        finally:
            browser.close()
    print(f"Screenshots written to {out}/")


def photograph(page, live, out: Path) -> None:
    sign_in(page, live)
    page.screenshot(path=out / "settings-empty.png", full_page=True)

    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret", CLIENT_SECRET)
    save_field(page, "tenant", "contoso")
    expect(page.locator("#tenant-error")).to_be_visible()
    page.screenshot(path=out / "settings-error.png", full_page=True)

    save_field(page, "tenant", TENANT)
    expect(page.get_by_role("button", name="Enable")).to_be_enabled()
    page.screenshot(path=out / "settings-filled.png", full_page=True)

    with page.expect_popup() as opened:
        page.get_by_role("button", name="Enable").click()
    opened.value.get_by_role("button", name="Accept").click()
    expect(page.locator("#authorization-status .alert-success")).to_be_visible(timeout=15_000)
    page.screenshot(path=out / "settings-connected.png", full_page=True)


if __name__ == "__main__":
    main()
