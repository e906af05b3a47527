"""The real app in a real browser: what the browser tests and scripts/screenshots.py share.

The app runs on a loopback port over a database built by the migrations, beside the local
identity provider, whose application has the app's exact Redirect URI registered. The browser is
Debian's `chromium` package, kept off the network; no tool here downloads a browser of its own.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import flask_migrate
from cryptography.fernet import Fernet
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, expect
from werkzeug.security import generate_password_hash

from oroflask import create_app
from oroflask.auth import service as accounts
from oroflask.auth.models import User
from oroflask.connection.service import site_grant
from oroflask.devidp import create_app as create_identity_provider
from oroflask.devidp.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_VALUE,
    DEFAULT_TENANT_ID,
)
from oroflask.devidp.testing import serve
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.settings.models import SETTINGS_ID, MicrosoftSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_CHROMIUM = "apt-get install chromium"
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
INSTALL_AXE = "scripts/test installs it, or: cd tests/browser && npm ci"

ADMIN = "admin@example.com"
PASSWORD = "browser tests only"
PAGE = "/admin/config/integrations/microsoft"
CLIENT_ID = DEFAULT_CLIENT_ID
CLIENT_SECRET = DEFAULT_SECRET_VALUE
TENANT = DEFAULT_TENANT_ID
ACCOUNT = "adele@contoso.onmicrosoft.com"
# A cheap hash keeps signing in fast; the setup page's accounts get the default one.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
# The two widths every page is made for: a laptop's window and a phone held upright.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Seconds a server may take to notice it must stop: a test's teardown waits that long, twice.
STOP_WITHIN = 0.05

# Reports every Content-Security-Policy violation of a page to the binding `reportViolation`.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || document.location.href}:${event.lineNumber}`);
});
"""


@dataclass
class LiveApp:
    """The app served on loopback, and the identity provider it signs in with."""

    app: Flask
    url: str
    provider_url: str
    instance: Path

    def address(self, path: str = PAGE) -> str:
        """Return the full URL of a path of the app."""
        return self.url + path

    @property
    def redirect_uri(self) -> str:
        return self.url + "/oauth/microsoft/callback"


@contextmanager
def live_app(instance: Path, *, admin: bool = True, **config) -> Iterator[LiveApp]:
    """Serve a fresh app (with its administrator unless `admin` is false) and its identity provider."""
    settings = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "browser tests " + os.urandom(8).hex(),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/oroflask.sqlite",
        "MICROSOFT_HTTP_TIMEOUT": (2, 5),
    }
    settings.update(config)
    app = create_app(settings)
    with app.app_context():
        flask_migrate.upgrade()
        if admin:
            db.session.add(User(email=ADMIN, role="admin", password_hash=PASSWORD_HASH))
            db.session.commit()
            accounts.retire_setup_code()
    try:
        with serve(app, STOP_WITHIN) as app_url:
            provider = create_identity_provider({"clients": [_registration(app_url)]})
            with serve(provider, STOP_WITHIN) as provider_url:
                app.config["MICROSOFT_AUTHORITY"] = provider_url
                yield LiveApp(app, app_url, provider_url, instance)
    finally:
        with app.app_context():
            db.engine.dispose()


def _registration(app_url: str) -> dict:
    return {
        "client_id": CLIENT_ID,
        "tenant": TENANT,
        "secrets": [{"id": DEFAULT_SECRET_ID, "value": CLIENT_SECRET, "expires": "2099-01-01"}],
        "redirect_uris": [f"{app_url}/oauth/microsoft/callback"],
    }


def launch(playwright: Playwright) -> Browser:
    """Start Debian's Chromium, headless and off the network."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)


@dataclass
class Problems:
    """What went wrong in the pages of a browser context: console errors, page errors, CSP."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        """Record the problems of every page the context opens, popups included."""
        context.expose_binding("reportViolation", lambda source, text: self.csp_violations.append(text))
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("page", self._watch_page)

    def _watch_page(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.text.startswith("htmx:sendAbort"):
            # A request superseded on purpose (hx-sync "replace": the filters typed on) is aborted,
            # and htmx logs the abort as an error, right after a failed htmx:afterRequest: neither
            # is a problem of the page. A request that fails otherwise logs htmx:sendError instead.
            if self.console_errors and "htmx:afterRequest" in self.console_errors[-1]:
                self.console_errors.pop()
            return
        self.console_errors.append(f"{message.location.get('url', '')}: {message.text}")


def sign_in(page: Page, live: LiveApp, email: str = ADMIN, password: str = PASSWORD) -> None:
    """Sign in through the login page and wait for Microsoft Settings."""
    page.goto(live.address("/login"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.address(PAGE))


def save_field(page: Page, name: str, value: str) -> None:
    """Type into a field of the settings page and leave it; wait until its answer is in place."""
    with page.expect_response(lambda response: response.url.endswith(f"/fields/{name}")):
        page.locator(f"#{name}").fill(value)
        page.locator(f"#{name}").blur()
    settled(page)


def connect(page: Page) -> None:
    """Enter the identity provider's application, click Enable and accept in the popup."""
    for name, value in (("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET), ("tenant", TENANT)):
        if page.locator(f"#{name}").input_value() != value:
            save_field(page, name, value)
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Enable").click()
    opened.value.get_by_role("button", name="Accept").click()
    expect(page.locator("#authorization-status .alert-success")).to_be_visible(timeout=15_000)


def settled(page: Page) -> None:
    """Wait until no htmx request of the page is under way and its swaps have settled.

    A queued request starts, or is dropped, in the same task as the one before it ends.
    """
    page.wait_for_function('() => !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")')


def horizontal_overflow(page: Page) -> int:
    """Return by how many CSS pixels the page is wider than its window (0: no horizontal scroll)."""
    return page.evaluate("() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


def assert_no_horizontal_scroll(page: Page) -> None:
    """Fail when the page scrolls sideways at its window's width (WCAG 1.4.10, Reflow)."""
    overflow = horizontal_overflow(page)
    width = page.viewport_size["width"] if page.viewport_size else "?"
    assert overflow == 0, f"{page.url} is {overflow} px wider than the {width} px window"


@contextmanager
def temporary_live_app(**config) -> Iterator[LiveApp]:
    """Serve a fresh app in a throw-away instance folder (for scripts)."""
    with tempfile.TemporaryDirectory() as instance:
        with live_app(Path(instance), **config) as live:
            yield live


def stored_settings(live: LiveApp) -> dict:
    """Return what the database holds of Microsoft Settings, the secret decrypted."""
    with live.app.app_context():
        row = db.session.get(MicrosoftSettings, SETTINGS_ID)
        if row is None:
            return {"client_id": None, "client_secret": None, "tenant": None, "expires_on": None}
        secret = row.client_secret_encrypted
        return {
            "client_id": row.client_id,
            "client_secret": decrypt(secret) if secret else None,
            "tenant": row.tenant,
            "expires_on": row.client_secret_expires_on,
        }


def stored_connection(live: LiveApp) -> str | None:
    """Return the account of the site's stored Microsoft grant, or None."""
    with live.app.app_context():
        connection = site_grant()
        return connection.account if connection else None
