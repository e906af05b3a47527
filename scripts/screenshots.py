"""Take the README's screenshots of the settings page in Debian's Chromium.

Runs the app and the local identity provider on loopback ports with a throw-away instance
folder, signs in, and photographs the page empty, filled, connected and with an error:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import flask_migrate
from cryptography.fernet import Fernet
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oroflask import create_app  # noqa: E402
from oroflask.auth import service as accounts  # noqa: E402
from oroflask.devidp import create_app as create_identity_provider  # noqa: E402
from oroflask.devidp.directory import (  # noqa: E402
    DEFAULT_CLIENT_ID,
    DEFAULT_SECRET_VALUE,
    DEFAULT_TENANT_ID,
)
from oroflask.devidp.testing import serve  # noqa: E402
from oroflask.extensions import db  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = "admin@example.com"
PASSWORD = "screenshots only"
PAGE = "/admin/config/integrations/microsoft"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots", type=Path)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "INSTANCE_PATH": instance,
                "SECRET_KEY": "screenshots",
                "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/screenshots.sqlite",
            }
        )
        with app.app_context():
            flask_migrate.upgrade()
            accounts.create_user(ADMIN, PASSWORD, role="admin")
            db.session.commit()
            accounts.retire_setup_code()
        with serve(app) as app_url:
            provider = create_identity_provider(
                {
                    "clients": [
                        {
                            "client_id": DEFAULT_CLIENT_ID,
                            "tenant": DEFAULT_TENANT_ID,
                            "secrets": [{"id": "a8e4f1c2-3b7d-4d95-b6a0-7c1e2f9d4b38", "value": DEFAULT_SECRET_VALUE, "expires": "2099-01-01"}],
                            "redirect_uris": [f"{app_url}/oauth/microsoft/callback"],
                        }
                    ]
                }
            )
            with serve(provider) as provider_url:
                app.config["MICROSOFT_AUTHORITY"] = provider_url
                photograph(app_url, out)
    print(f"Screenshots written to {out}/")


def photograph(app_url: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{app_url}/login")
        page.fill("#email", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{app_url}{PAGE}")
        page.screenshot(path=out / "settings-empty.png", full_page=True)

        save = lambda name, value: _type_and_wait(page, name, value)  # noqa: E731
        save("client_id", DEFAULT_CLIENT_ID)
        save("client_secret", DEFAULT_SECRET_VALUE)
        save("tenant", "contoso")
        page.screenshot(path=out / "settings-error.png", full_page=True)
        save("tenant", DEFAULT_TENANT_ID)
        page.screenshot(path=out / "settings-filled.png", full_page=True)

        with page.expect_popup() as opened:
            page.click("#enable")
        popup = opened.value
        popup.wait_for_load_state()
        popup.click("button[value=accept]")
        page.wait_for_selector("#authorization-status .alert-success", timeout=15000)
        page.screenshot(path=out / "settings-connected.png", full_page=True)
        browser.close()


def _type_and_wait(page, name: str, value: str) -> None:
    with page.expect_response(lambda response: f"/fields/{name}" in response.url):
        page.fill(f"#{name}", value)
        page.locator(f"#{name}").blur()
    page.wait_for_timeout(150)


if __name__ == "__main__":
    main()
