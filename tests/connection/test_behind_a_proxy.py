"""Behind a reverse proxy: which X-Forwarded-* headers count (OROFLASK_PROXY_FIX) and which hosts a
request may name (TRUSTED_HOSTS), so that a forged header never changes the Redirect URI, shown
or sent to Microsoft, nor any other address the app answers with. The public address is pinned
from the request the first administrator signs in with, as these settings make it out."""

import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from oroflask.auth.models import LoginFailure
from oroflask.connection.models import AuthorizationAttempt
from oroflask.extensions import db
from tests.conftest import ADMIN_EMAIL, PASSWORD, csrf_token, element

from .conftest import PAGE, START, htmx

FORGED_HOST = "evil.example"
PUBLIC_HOST = "mail.example.com"


def as_host(client, host: str) -> dict:
    """Let this client's session cookie go to `host` too; return the headers that name it."""
    for name in ("session", "remember_token"):
        cookie = client.get_cookie(name)
        if cookie is not None:
            client.set_cookie(name, cookie.value, domain=host)
    return {"Host": host}


def sign_in_through(client, headers: dict, origin: str = "http://localhost") -> None:
    """Sign in as the administrator with these headers on every request (a proxy's)."""
    page = client.get("/login", headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token},
        headers={**headers, "Referer": origin + "/login"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def redirect_uri_on_page(client, headers: dict) -> str:
    response = client.get(PAGE, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return element(response.get_data(as_text=True), "redirect_uri")["value"]


def redirect_uri_sent_to_microsoft(client, headers: dict, origin: str = "http://localhost") -> str:
    """Click Enable on the page at `origin` and open the sign-in window; return the redirect_uri
    sent to Microsoft. (Over HTTPS, Flask-WTF checks that the Referer is of the same origin.)"""
    started = client.post(START, headers={**htmx(client), "Referer": origin + PAGE, **headers})
    assert started.status_code == 200, started.get_data(as_text=True)
    url = json.loads(started.headers["HX-Trigger"])["authorization-started"]["url"]
    sign_in = client.get(url, headers=headers)
    assert sign_in.status_code == 302, sign_in.get_data(as_text=True)
    return parse_qs(urlsplit(sign_in.headers["Location"]).query)["redirect_uri"][0]


def stored_redirect_uris(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuthorizationAttempt.redirect_uri)).scalars())


def failed_sign_in_addresses(app, headers: dict) -> list[str]:
    client = app.test_client()
    client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": "wrong", "csrf_token": csrf_token(client)},
        headers=headers,
    )
    with app.app_context():
        return list(db.session.execute(select(LoginFailure.remote_addr)).scalars())


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": FORGED_HOST, "X-Forwarded-Port": "8443"}


def test_without_proxy_fix_forwarded_headers_are_ignored(admin_client, app):
    assert redirect_uri_on_page(admin_client, FORWARDED) == "http://localhost/oauth/microsoft/callback"
    assert redirect_uri_sent_to_microsoft(admin_client, FORWARDED) == "http://localhost/oauth/microsoft/callback"
    addresses = failed_sign_in_addresses(app, {"X-Forwarded-For": "203.0.113.7"})
    assert addresses == ["127.0.0.1"]


@pytest.mark.app_config(PROXY_FIX=1)
def test_one_proxy_is_trusted_for_the_scheme_and_the_client_address(client, admin, app):
    # X-Forwarded-Host is not counted by a bare number: a proxy that passed on the client's own
    # header would let it choose the host.
    sign_in_through(client, FORWARDED, origin="https://localhost")
    assert redirect_uri_on_page(client, {}) == "https://localhost/oauth/microsoft/callback"
    sent = redirect_uri_sent_to_microsoft(client, FORWARDED, origin="https://localhost")
    assert sent == "https://localhost/oauth/microsoft/callback"
    # The proxy appends the address it saw to what the client sent: only that last one counts.
    addresses = failed_sign_in_addresses(app, {"X-Forwarded-For": "192.0.2.66, 203.0.113.7"})
    assert addresses == ["203.0.113.7"]


@pytest.mark.app_config(PROXY_FIX={"x_for": 1, "x_proto": 1, "x_host": 1}, TRUSTED_HOSTS=["localhost", PUBLIC_HOST])
def test_a_forwarded_host_counts_when_configured_and_must_be_trusted(client, admin, app):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC_HOST}
    sign_in_through(client, forwarded, origin=f"https://{PUBLIC_HOST}")
    assert redirect_uri_on_page(client, {}) == f"https://{PUBLIC_HOST}/oauth/microsoft/callback"

    refused = client.get(PAGE, headers={"X-Forwarded-Host": FORGED_HOST})
    assert refused.status_code == 400
    assert refused.get_data(as_text=True) == "Bad request: unknown host.\n"


@pytest.mark.app_config(TRUSTED_HOSTS=["localhost", PUBLIC_HOST])
def test_a_host_outside_trusted_hosts_is_refused(admin_client, app, caplog):
    with caplog.at_level(logging.WARNING, logger="oroflask"):
        page = admin_client.get(PAGE, headers=as_host(admin_client, FORGED_HOST))
        enable = admin_client.post(START, headers={**htmx(admin_client), **as_host(admin_client, FORGED_HOST)})
    for response in (page, enable):
        assert response.status_code == 400
        assert response.get_data(as_text=True) == "Bad request: unknown host.\n"
        assert FORGED_HOST not in str(response.headers)
    assert stored_redirect_uris(app) == []
    assert f"Refused a request for the host '{FORGED_HOST}', which is not in TRUSTED_HOSTS" in caplog.text


@pytest.mark.app_config(TRUSTED_HOSTS=f"localhost, {PUBLIC_HOST}")
def test_a_trusted_host_is_served_on_any_port_and_the_first_sign_in_pins_it(client, admin, app):
    headers = {"Host": PUBLIC_HOST + ":8443"}
    sign_in_through(client, headers, origin=f"http://{PUBLIC_HOST}:8443")
    expected = f"http://{PUBLIC_HOST}:8443/oauth/microsoft/callback"
    assert redirect_uri_on_page(client, headers) == expected
    assert redirect_uri_on_page(client, {"Host": PUBLIC_HOST}) == expected


@pytest.mark.app_config(PUBLIC_URL=f"https://{PUBLIC_HOST}")
def test_with_a_public_url_a_forged_host_changes_nothing(admin_client, app):
    expected = f"https://{PUBLIC_HOST}/oauth/microsoft/callback"
    forged = {**as_host(admin_client, FORGED_HOST), "X-Forwarded-Host": FORGED_HOST}
    assert redirect_uri_on_page(admin_client, forged) == expected
    assert redirect_uri_sent_to_microsoft(admin_client, forged, origin=f"http://{FORGED_HOST}") == expected
    assert stored_redirect_uris(app) == [expected]


def test_redirects_never_name_the_requested_host(client, admin):
    response = client.get(PAGE, headers={"Host": FORGED_HOST})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
