"""What every response carries: a strict CSP, no framing, a same-origin referrer, safe cookies."""

import pytest

from .conftest import SETTINGS_PAGE, field_url, htmx_headers, live_save, sign_in


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {
        name: value.strip()
        for name, _, value in (part.strip().partition(" ") for part in policy.split(";"))
    }


def assert_protected(response):
    policy = directives(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_fragments_and_errors_carry_the_headers(admin_client):
    assert_protected(admin_client.get(SETTINGS_PAGE))
    assert_protected(live_save(admin_client, "tenant", "common"))
    assert_protected(live_save(admin_client, "tenant", "not a tenant"))
    headers = htmx_headers(admin_client, "nothing")
    assert_protected(admin_client.post(field_url("nothing"), headers=headers))
    assert_protected(admin_client.post(SETTINGS_PAGE))
    with admin_client.get("/static/css/app.css") as stylesheet:
        assert_protected(stylesheet)


def test_login_and_setup_carry_the_headers(client):
    assert_protected(client.get("/setup"))
    assert_protected(client.get("/"))


def test_pages_hold_no_inline_script(admin_client):
    page = admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    assert page.count("<script") == page.count("<script src=")
    assert " onclick=" not in page and " onchange=" not in page


def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_the_session_cookie_is_http_only_and_same_site_lax(client, admin):
    cookie = session_cookie(sign_in(client, admin))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.mark.app_config(PUBLIC_URL="https://mail.example.com")
def test_the_session_cookie_is_secure_when_the_public_url_is_https(client, admin):
    cookie = session_cookie(sign_in(client, admin))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.app_config(MICROSOFT_AUTHORITY="https://login.microsoftonline.com/")
def test_only_the_settings_page_lets_its_forms_lead_to_the_sign_in(admin_client):
    settings = directives(admin_client.get(SETTINGS_PAGE))
    assert settings["form-action"] == "'self' https://login.microsoftonline.com"
    assert directives(admin_client.get("/oauth/microsoft/callback"))["form-action"] == "'self'"
    assert directives(live_save(admin_client, "tenant", "common"))["form-action"] == "'self'"


def test_the_login_page_allows_only_its_own_forms(client, admin):
    assert directives(client.get("/login"))["form-action"] == "'self'"


@pytest.mark.app_config(MICROSOFT_AUTHORITY="ftp://example.com")
def test_a_misconfigured_authority_adds_nothing(admin_client):
    assert directives(admin_client.get(SETTINGS_PAGE))["form-action"] == "'self'"
