"""The public address is pinned when the first administrator signs in (the setup page, or the first
sign-in after `flask create-admin`): a forged Host then changes neither the Redirect URI shown nor
the one sent to Microsoft. OROFLASK_PUBLIC_URL overrides it; `flask set-public-url` changes it."""

import pytest
from sqlalchemy import select

from oroflask.extensions import db
from oroflask.settings.models import SiteSettings
from tests.conftest import ADMIN_EMAIL, PASSWORD, USER_EMAIL, set_up_first_admin, sign_in

from .test_behind_a_proxy import (
    FORGED_HOST,
    PUBLIC_HOST,
    as_host,
    redirect_uri_on_page,
    redirect_uri_sent_to_microsoft,
    sign_in_through,
    stored_redirect_uris,
)

LOCAL = "http://localhost/oauth/microsoft/callback"


def pinned(app) -> str | None:
    with app.app_context():
        return db.session.execute(select(SiteSettings.public_url)).scalar_one()


def forged(client) -> dict:
    return {**as_host(client, FORGED_HOST), "X-Forwarded-Host": FORGED_HOST}


def test_a_fresh_install_pins_the_setup_address_and_a_forged_host_changes_nothing(app, client):
    assert pinned(app) is None
    set_up_first_admin(app, client)
    assert pinned(app) == "http://localhost"

    assert redirect_uri_on_page(client, forged(client)) == LOCAL
    assert redirect_uri_sent_to_microsoft(client, forged(client), origin=f"http://{FORGED_HOST}") == LOCAL
    assert stored_redirect_uris(app) == [LOCAL]


def test_after_create_admin_the_first_sign_in_pins_the_address(app, runner, client):
    result = runner.invoke(args=["create-admin", ADMIN_EMAIL, "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert pinned(app) is None
    sign_in_through(client, {"Host": PUBLIC_HOST}, origin=f"http://{PUBLIC_HOST}")
    assert pinned(app) == f"http://{PUBLIC_HOST}"
    expected = f"http://{PUBLIC_HOST}/oauth/microsoft/callback"
    assert redirect_uri_on_page(client, {"Host": PUBLIC_HOST, "X-Forwarded-Host": FORGED_HOST}) == expected
    sign_in_through(app.test_client(), {"Host": FORGED_HOST}, origin=f"http://{FORGED_HOST}")
    assert pinned(app) == f"http://{PUBLIC_HOST}"


def test_a_user_signing_in_pins_nothing(app, user, client):
    assert sign_in(client, USER_EMAIL).status_code == 302
    assert pinned(app) is None


def test_the_page_says_where_the_address_comes_from_and_how_to_change_it(admin_client):
    page = admin_client.get("/admin/config/integrations/microsoft").get_data(as_text=True)
    assert "Built on the public address http://localhost, pinned on" in page
    assert "flask --app wsgi set-public-url https://your.host" in page


@pytest.mark.app_config(PUBLIC_URL=f"https://{PUBLIC_HOST}")
def test_a_configured_public_url_overrides_the_pinned_one(admin_client, app):
    page = admin_client.get("/admin/config/integrations/microsoft").get_data(as_text=True)
    assert f"https://{PUBLIC_HOST}, set by <code>OROFLASK_PUBLIC_URL</code>" in page
    assert redirect_uri_on_page(admin_client, {}) == f"https://{PUBLIC_HOST}/oauth/microsoft/callback"


def test_set_public_url_changes_the_pinned_address(admin_client, app, runner):
    assert pinned(app) == "http://localhost"
    result = runner.invoke(args=["set-public-url", f"HTTPS://{PUBLIC_HOST.upper()}:8443/"])
    assert result.exit_code == 0, result.output
    expected = f"https://{PUBLIC_HOST}:8443/oauth/microsoft/callback"
    assert f"Register {expected} as a Redirect URI" in result.output
    assert pinned(app) == f"https://{PUBLIC_HOST}:8443"
    assert redirect_uri_on_page(admin_client, {}) == expected


@pytest.mark.parametrize(
    "url",
    [
        "mail.example.com",
        "ftp://mail.example.com",
        "https://mail.example.com/oroflask",
        "https://mail.example.com/?next=1",
        "https://mail.example.com/#top",
        "https://user@mail.example.com",
        "https://mail.example.com:99999",
        "https://mail example.com",
        "https://",
    ],
)
def test_set_public_url_refuses_what_is_not_an_address(admin_client, app, runner, url):
    result = runner.invoke(args=["set-public-url", url])
    assert result.exit_code == 1
    assert "The public address is http:// or https:// with a host name" in result.output
    assert pinned(app) == "http://localhost"


@pytest.mark.app_config(PUBLIC_URL=f"https://{PUBLIC_HOST}")
def test_set_public_url_says_when_the_configuration_overrides_it(app, runner):
    result = runner.invoke(args=["set-public-url", "https://other.example.com"])
    assert result.exit_code == 0, result.output
    assert "OROFLASK_PUBLIC_URL is set (https://mail.example.com) and overrides the pinned address" in result.output
    assert pinned(app) == "https://other.example.com"
