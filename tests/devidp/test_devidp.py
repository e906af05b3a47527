"""The dev identity provider answers as the Microsoft identity platform does, over real HTTP."""

import base64
import hashlib
import html.parser
import logging
import re
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError
from joserfc.jwk import KeySet
from werkzeug.serving import make_server

from oroflask.devidp import create_app
from oroflask.devidp.__main__ import PathOnlyRequestHandler, build_app, instructions
from oroflask.devidp.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_VALUE,
    DEFAULT_TENANT_ID,
)
from oroflask.devidp.testing import serve

from .conftest import (
    EXPIRED_SECRET,
    FABRIKAM,
    MULTI_TENANT_CLIENT,
    MULTI_TENANT_SECRET,
    REDIRECT_URI,
    TEST_CONFIG,
)

TENANT = DEFAULT_TENANT_ID
CLIENT_ID = DEFAULT_CLIENT_ID
SECRET = DEFAULT_SECRET_VALUE
MAIL_SCOPES = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send"
SCOPES = f"{MAIL_SCOPES} openid profile email offline_access"
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def pkce() -> tuple[str, str]:
    """Return a code_verifier and its S256 code_challenge, computed as RFC 7636 says."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(base_url, challenge, tenant=TENANT, **overrides) -> str:
    """Return the authorize URL our app would send the browser to; a None override drops that parameter."""
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "response_mode": "query",
        "scope": SCOPES,
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return f"{base_url}/{tenant}/oauth2/v2.0/authorize?{query}"


def approve(http, base_url, url, **body) -> str:
    """Return where the provider sends the browser after the user acts on the sign-in page."""
    response = http.post(f"{base_url}/_devidp/approve", json={"authorize_url": url, **body})
    assert response.status_code == 200, response.text
    return response.json()["location"]


def query_of(location) -> dict:
    """Return the query parameters of a redirect location, one value each."""
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def sign_in(http, base_url, tenant=TENANT, email=None, **overrides) -> tuple[str, str]:
    """Sign a user in through the approve helper; return the code and its code_verifier."""
    verifier, challenge = pkce()
    location = approve(http, base_url, authorize_url(base_url, challenge, tenant, **overrides), email=email)
    return query_of(location)["code"], verifier


def redeem(http, base_url, code, verifier, tenant=TENANT, auth=None, **overrides):
    """Post an authorization_code grant, client_secret_post unless `auth` is given; None drops a field."""
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "scope": SCOPES,
    }
    form.update(overrides)
    data = {key: value for key, value in form.items() if value is not None}
    return http.post(f"{base_url}/{tenant}/oauth2/v2.0/token", data=data, auth=auth)


def refresh(http, base_url, refresh_token, tenant=TENANT):
    """Post a refresh_token grant with client_secret_post."""
    form = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "refresh_token": refresh_token,
    }
    return http.post(f"{base_url}/{tenant}/oauth2/v2.0/token", data=form)


def tokens(http, base_url, **overrides) -> dict:
    """Sign in and redeem the code; return the token response."""
    code, verifier = sign_in(http, base_url, **overrides)
    response = redeem(http, base_url, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()


def behave(http, base_url, **knobs):
    """Turn the provider's test knobs."""
    response = http.post(f"{base_url}/_devidp/behaviour", json=knobs)
    assert response.status_code == 200, response.text


def assert_aadsts(response, status, error, code):
    """Assert a Microsoft-shaped JSON error body with this status, OAuth error and AADSTS code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert re.fullmatch(
        rf"AADSTS{code}: .+\. Trace ID: {GUID} Correlation ID: {GUID} Timestamp: "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ",
        body["error_description"],
    )
    assert body["timestamp"] == body["error_description"][-20:]
    assert re.fullmatch(GUID, body["trace_id"]) and re.fullmatch(GUID, body["correlation_id"])
    assert body["error_uri"].endswith(f"/error?code={code}")


def assert_redirected_error(location, error, code, state="state-123"):
    """Assert a redirect back to the app carrying an OAuth error with this AADSTS code."""
    assert location.startswith(REDIRECT_URI + "?")
    query = query_of(location)
    assert query["error"] == error
    assert query["error_description"].startswith(f"AADSTS{code}: ")
    assert "Trace ID: " in query["error_description"]
    assert query.get("state") == state
    assert "code" not in query


def verify_id_token(http, base_url, id_token, tenant=TENANT, client_id=CLIENT_ID, nonce="nonce-456"):
    """Verify an id_token as a relying party must: signature, issuer, audience, nonce, expiry."""
    metadata = http.get(f"{base_url}/{tenant}/v2.0/.well-known/openid-configuration").json()
    keys = KeySet.import_key_set(http.get(metadata["jwks_uri"]).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    )
    registry.validate(token.claims)
    return token.claims


def introspect(http, base_url, access_token) -> dict:
    """Ask the provider what an access token stands for."""
    return http.post(f"{base_url}/_devidp/introspect", json={"access_token": access_token}).json()


def decode(http, base_url, id_token, tenant=TENANT) -> dict:
    """Return the claims of an id_token whose signature checks against the tenant's keys."""
    keys = KeySet.import_key_set(http.get(f"{base_url}/{tenant}/discovery/v2.0/keys").json())
    return jwt.decode(id_token, keys, algorithms=["RS256"]).claims


class FormParser(html.parser.HTMLParser):
    """Collect the sign-in form's action, its radio buttons and its submit buttons."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.accounts = {}
        self.buttons = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.action = attributes["action"]
        elif tag == "input" and attributes.get("type") == "radio":
            self.accounts[attributes["value"]] = "checked" in attributes
        elif tag == "button":
            self.buttons.append((attributes["name"], attributes["value"]))


def sign_in_page(http, url):
    """Load the sign-in page as a browser would; return the response and its parsed form."""
    response = http.get(url, allow_redirects=False)
    parser = FormParser()
    parser.feed(response.text)
    return response, parser


# Discovery and keys


def test_metadata_of_a_tenant_names_its_issuer_and_endpoints(http, base_url):
    metadata = http.get(f"{base_url}/{TENANT}/v2.0/.well-known/openid-configuration").json()

    assert metadata["issuer"] == f"{base_url}/{TENANT}/v2.0"
    assert metadata["authorization_endpoint"] == f"{base_url}/{TENANT}/oauth2/v2.0/authorize"
    assert metadata["token_endpoint"] == f"{base_url}/{TENANT}/oauth2/v2.0/token"
    assert metadata["jwks_uri"] == f"{base_url}/{TENANT}/discovery/v2.0/keys"
    assert metadata["end_session_endpoint"] == f"{base_url}/{TENANT}/oauth2/v2.0/logout"
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_post", "client_secret_basic"]
    assert metadata["response_modes_supported"] == ["query"]
    assert "offline_access" in metadata["scopes_supported"]


def test_metadata_by_domain_uses_the_domain_in_endpoints_and_the_guid_in_the_issuer(http, base_url):
    metadata = http.get(f"{base_url}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration").json()

    assert metadata["issuer"] == f"{base_url}/{TENANT}/v2.0"
    assert metadata["token_endpoint"] == f"{base_url}/contoso.onmicrosoft.com/oauth2/v2.0/token"


@pytest.mark.parametrize("keyword", ["organizations", "common"])
def test_multi_tenant_metadata_has_the_templated_issuer(http, base_url, keyword):
    metadata = http.get(f"{base_url}/{keyword}/v2.0/.well-known/openid-configuration").json()

    assert metadata["issuer"] == f"{base_url}/{{tenantid}}/v2.0"
    assert metadata["authorization_endpoint"] == f"{base_url}/{keyword}/oauth2/v2.0/authorize"


@pytest.mark.parametrize("tenant", ["0b0b0b0b-1111-4222-8333-444455556666", "nowhere.onmicrosoft.com"])
def test_an_unknown_tenant_is_not_found(http, base_url, tenant):
    response = http.get(f"{base_url}/{tenant}/v2.0/.well-known/openid-configuration")

    assert_aadsts(response, 400, "invalid_tenant", 90002)
    assert f"Tenant '{tenant}' not found" in response.json()["error_description"]


@pytest.mark.parametrize("tenant", ["not-a-tenant", "contoso_corp", "1234"])
def test_a_malformed_tenant_is_refused(http, base_url, tenant):
    response = http.get(f"{base_url}/{tenant}/v2.0/.well-known/openid-configuration")

    assert_aadsts(response, 400, "invalid_request", 900023)


def test_keys_publish_the_public_rsa_signing_key(http, base_url):
    body = http.get(f"{base_url}/common/discovery/v2.0/keys").json()

    (key,) = body["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["e"] == "AQAB"
    assert key["kid"] and len(base64.urlsafe_b64decode(key["n"] + "==")) == 256
    assert "d" not in key and "p" not in key
    id_token = tokens(http, base_url)["id_token"]
    header = jwt.decode(id_token, KeySet.import_key_set(body), algorithms=["RS256"]).header
    assert header == {"typ": "JWT", "alg": "RS256", "kid": key["kid"]}


def test_keys_of_an_unknown_tenant_are_not_found(http, base_url):
    response = http.get(f"{base_url}/0b0b0b0b-1111-4222-8333-444455556666/discovery/v2.0/keys")

    assert_aadsts(response, 400, "invalid_tenant", 90002)


# Authorize: errors Microsoft shows on its own page


def assert_error_page(response, code):
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert f"AADSTS{code}" in response.text
    assert "Location" not in response.headers


def test_an_unknown_client_gets_an_error_page(http, base_url):
    _, challenge = pkce()
    url = authorize_url(base_url, challenge, client_id="0b0b0b0b-1111-4222-8333-444455556666")

    response = http.get(url, allow_redirects=False)

    assert_error_page(response, 700016)


def test_a_single_tenant_client_is_not_found_in_another_tenant(http, base_url):
    _, challenge = pkce()

    response = http.get(authorize_url(base_url, challenge, tenant=FABRIKAM), allow_redirects=False)

    assert_error_page(response, 700016)


def test_a_redirect_uri_mismatch_is_shown_with_the_uri(http, base_url):
    _, challenge = pkce()
    wrong = "http://127.0.0.1:5000/oauth/microsoft/callback/"

    response = http.get(authorize_url(base_url, challenge, redirect_uri=wrong), allow_redirects=False)

    assert_error_page(response, 50011)
    assert wrong in response.text


@pytest.mark.parametrize("keyword", ["common", "organizations"])
def test_a_single_tenant_client_cannot_use_multi_tenant_paths(http, base_url, keyword):
    _, challenge = pkce()

    response = http.get(authorize_url(base_url, challenge, tenant=keyword), allow_redirects=False)

    assert_error_page(response, 50194)


def test_consumers_is_refused(http, base_url):
    _, challenge = pkce()
    url = authorize_url(base_url, challenge, tenant="consumers", client_id=MULTI_TENANT_CLIENT)

    assert_error_page(http.get(url, allow_redirects=False), 9002332)


def test_only_the_query_response_mode_is_supported(http, base_url):
    _, challenge = pkce()

    response = http.get(authorize_url(base_url, challenge, response_mode="form_post"), allow_redirects=False)

    assert_error_page(response, 70007)
    assert "response_mode" in response.text


def test_the_approve_helper_answers_page_errors_in_json(http, base_url):
    _, challenge = pkce()
    url = authorize_url(base_url, challenge, redirect_uri="https://evil.example/callback")

    response = http.post(f"{base_url}/_devidp/approve", json={"authorize_url": url})

    assert_aadsts(response, 400, "invalid_request", 50011)


# Authorize: errors sent back to the app's redirect URI


@pytest.mark.parametrize(
    "overrides, error, code",
    [
        ({"code_challenge": None}, "invalid_request", 900144),
        ({"code_challenge_method": None}, "invalid_request", 90100),
        ({"code_challenge_method": "plain"}, "invalid_request", 90100),
        ({"response_type": "token"}, "unsupported_response_type", 70005),
        ({"scope": None}, "invalid_request", 900144),
        ({"scope": f"{MAIL_SCOPES} User.Read openid"}, "invalid_scope", 700022),
    ],
)
def test_invalid_parameters_are_sent_back_to_the_app(http, base_url, overrides, error, code):
    _, challenge = pkce()

    response = http.get(authorize_url(base_url, challenge, **overrides), allow_redirects=False)

    assert response.status_code == 302
    assert_redirected_error(response.headers["Location"], error, code)


# The sign-in page


def test_the_sign_in_page_lists_the_tenant_accounts_and_scopes(http, base_url):
    _, challenge = pkce()
    url = authorize_url(base_url, challenge, login_hint="Alex@contoso.onmicrosoft.com")

    response, form = sign_in_page(http, url)

    assert response.status_code == 200
    assert form.accounts == {
        "adele@contoso.onmicrosoft.com": False,
        "alex@contoso.onmicrosoft.com": True,
        "lee@contoso.onmicrosoft.com": False,
    }
    assert form.buttons == [("action", "accept"), ("action", "cancel")]
    assert "Read and write access to mailboxes via IMAP" in response.text
    assert "https://outlook.office.com/SMTP.Send" in response.text
    assert "<script" not in response.text and "style=" not in response.text and "<style" not in response.text
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_accepting_on_the_page_sends_a_code_back(http, base_url):
    _, challenge = pkce()
    _, form = sign_in_page(http, authorize_url(base_url, challenge))

    response = http.post(
        base_url + form.action,
        data={"account": "alex@contoso.onmicrosoft.com", "action": "accept"},
        allow_redirects=False,
    )

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?code=")
    query = query_of(location)
    assert query["state"] == "state-123"
    assert re.fullmatch(GUID, query["session_state"])
    redeemed = redeem(http, base_url, query["code"], "wrong-verifier")
    assert_aadsts(redeemed, 400, "invalid_grant", 501481)


def test_the_page_signs_in_the_chosen_account(http, base_url):
    verifier, challenge = pkce()
    _, form = sign_in_page(http, authorize_url(base_url, challenge))
    response = http.post(
        base_url + form.action,
        data={"account": "alex@contoso.onmicrosoft.com", "action": "accept"},
        allow_redirects=False,
    )

    body = redeem(http, base_url, query_of(response.headers["Location"])["code"], verifier).json()

    claims = verify_id_token(http, base_url, body["id_token"])
    assert claims["preferred_username"] == "alex@contoso.onmicrosoft.com"


def test_cancelling_on_the_page_sends_access_denied_back(http, base_url):
    _, challenge = pkce()
    _, form = sign_in_page(http, authorize_url(base_url, challenge))

    response = http.post(
        base_url + form.action,
        data={"account": "adele@contoso.onmicrosoft.com", "action": "cancel"},
        allow_redirects=False,
    )

    assert response.status_code == 302
    location = response.headers["Location"]
    assert "error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent" in location
    assert_redirected_error(location, "access_denied", 65004)


def test_an_account_of_another_tenant_is_refused(http, base_url):
    _, challenge = pkce()
    _, form = sign_in_page(http, authorize_url(base_url, challenge))

    response = http.post(
        base_url + form.action,
        data={"account": "megan@fabrikam.onmicrosoft.com", "action": "accept"},
        allow_redirects=False,
    )

    assert_redirected_error(response.headers["Location"], "access_denied", 50020)


def test_an_unknown_account_is_refused_on_the_page(http, base_url):
    _, challenge = pkce()
    _, form = sign_in_page(http, authorize_url(base_url, challenge))

    response = http.post(
        base_url + form.action, data={"account": "nobody@contoso.onmicrosoft.com", "action": "accept"}
    )

    assert_error_page(response, 50034)


def test_a_multi_tenant_client_on_common_signs_in_users_of_any_tenant(http, base_url):
    verifier, challenge = pkce()
    url = authorize_url(base_url, challenge, tenant="common", client_id=MULTI_TENANT_CLIENT)
    _, form = sign_in_page(http, url)
    assert set(form.accounts) == {
        "adele@contoso.onmicrosoft.com",
        "alex@contoso.onmicrosoft.com",
        "lee@contoso.onmicrosoft.com",
        "megan@fabrikam.onmicrosoft.com",
    }
    location = approve(http, base_url, url, email="megan@fabrikam.onmicrosoft.com")

    response = redeem(
        http,
        base_url,
        query_of(location)["code"],
        verifier,
        tenant="common",
        client_id=MULTI_TENANT_CLIENT,
        client_secret=MULTI_TENANT_SECRET,
    )

    claims = decode(http, base_url, response.json()["id_token"], tenant="common")
    assert claims["tid"] == FABRIKAM
    assert claims["iss"] == f"{base_url}/{FABRIKAM}/v2.0"


# Redeeming the code


def test_a_code_is_exchanged_for_tokens(http, base_url):
    code, verifier = sign_in(http, base_url, email="adele@contoso.onmicrosoft.com")

    response = redeem(http, base_url, code, verifier)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert body["scope"] == SCOPES
    assert body["access_token"] and body["refresh_token"] and body["access_token"] != body["refresh_token"]
    claims = verify_id_token(http, base_url, body["id_token"])
    assert claims["tid"] == TENANT and claims["ver"] == "2.0"
    assert claims["name"] == "Adele Vance"
    assert claims["preferred_username"] == claims["email"] == "adele@contoso.onmicrosoft.com"
    assert claims["oid"] == "3c2a7e91-5d4b-4f8e-a1c6-8b0d2e7f4a59"
    assert claims["sub"] and claims["uti"]
    assert claims["nbf"] <= time.time() < claims["exp"] and claims["exp"] - claims["iat"] == 3600


def test_client_secret_basic_is_accepted(http, base_url):
    code, verifier = sign_in(http, base_url)

    basic = (CLIENT_ID, SECRET)
    response = redeem(http, base_url, code, verifier, client_id=None, client_secret=None, auth=basic)

    assert response.status_code == 200, response.text


def test_a_token_request_without_client_id_is_refused(http, base_url):
    code, verifier = sign_in(http, base_url)

    assert_aadsts(redeem(http, base_url, code, verifier, client_id=None), 400, "invalid_request", 900144)


def test_without_offline_access_or_openid_only_an_access_token_is_issued(http, base_url):
    body = tokens(http, base_url, scope=MAIL_SCOPES)

    assert body["scope"] == MAIL_SCOPES
    assert "refresh_token" not in body and "id_token" not in body


def test_a_code_is_redeemed_once(http, base_url):
    code, verifier = sign_in(http, base_url)
    assert redeem(http, base_url, code, verifier).status_code == 200

    assert_aadsts(redeem(http, base_url, code, verifier), 400, "invalid_grant", 54005)


def test_a_wrong_code_verifier_is_refused(http, base_url):
    code, _ = sign_in(http, base_url)
    other_verifier, _ = pkce()

    assert_aadsts(redeem(http, base_url, code, other_verifier), 400, "invalid_grant", 501481)


def test_a_code_must_be_redeemed_at_the_tenant_path_it_was_issued_from(http, base_url):
    code, verifier = sign_in(http, base_url, client_id=MULTI_TENANT_CLIENT)
    multi = {"client_id": MULTI_TENANT_CLIENT, "client_secret": MULTI_TENANT_SECRET}

    at_common = redeem(http, base_url, code, verifier, tenant="common", **multi)
    at_domain = redeem(http, base_url, code, verifier, tenant="contoso.onmicrosoft.com", **multi)

    assert_aadsts(at_common, 400, "invalid_grant", 700005)
    assert at_domain.status_code == 200


def test_the_redirect_uri_must_match_the_one_used_at_authorize(http, base_url):
    code, verifier = sign_in(http, base_url)

    other_registered_uri = "http://localhost:5000/oauth/microsoft/callback"

    response = redeem(http, base_url, code, verifier, redirect_uri=other_registered_uri)

    assert_aadsts(response, 400, "invalid_grant", 500112)


def test_an_unknown_code_is_refused(http, base_url):
    assert_aadsts(redeem(http, base_url, "made-up", "verifier"), 400, "invalid_grant", 70000)


def test_a_code_expires():
    with serve(create_app({"code_lifetime": 0})) as base_url, requests.Session() as http:
        code, verifier = sign_in(http, base_url)

        assert_aadsts(redeem(http, base_url, code, verifier), 400, "invalid_grant", 70008)


# Client authentication


def test_a_wrong_client_secret_is_refused(http, base_url):
    code, verifier = sign_in(http, base_url)

    response = redeem(http, base_url, code, verifier, client_secret="Abc8Q~not-the-secret")

    assert_aadsts(response, 401, "invalid_client", 7000215)
    assert redeem(http, base_url, code, verifier).status_code == 200


def test_the_secret_id_is_not_the_secret(http, base_url):
    code, verifier = sign_in(http, base_url)

    response = redeem(http, base_url, code, verifier, client_secret=DEFAULT_SECRET_ID)

    assert_aadsts(response, 401, "invalid_client", 7000215)
    assert "not the client secret ID" in response.json()["error_description"]


def test_an_expired_secret_is_refused(http, base_url):
    code, verifier = sign_in(http, base_url)

    response = redeem(http, base_url, code, verifier, client_secret=EXPIRED_SECRET)

    assert_aadsts(response, 401, "invalid_client", 7000222)


def test_a_missing_secret_is_refused(http, base_url):
    code, verifier = sign_in(http, base_url)

    assert_aadsts(redeem(http, base_url, code, verifier, client_secret=None), 401, "invalid_client", 7000218)


def test_an_unknown_client_is_refused_at_the_token_endpoint(http, base_url):
    code, verifier = sign_in(http, base_url)

    response = redeem(http, base_url, code, verifier, client_id="0b0b0b0b-1111-4222-8333-444455556666")

    assert_aadsts(response, 400, "unauthorized_client", 700016)


def test_an_unsupported_grant_type_is_refused(http, base_url):
    response = http.post(
        f"{base_url}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "password", "client_id": CLIENT_ID, "client_secret": SECRET},
    )

    assert_aadsts(response, 400, "unsupported_grant_type", 70003)


# Refresh tokens


def test_refreshing_returns_a_new_refresh_token_and_the_old_one_keeps_working(http, base_url):
    first = tokens(http, base_url)["refresh_token"]

    second = refresh(http, base_url, first).json()
    third = refresh(http, base_url, first).json()

    assert len({first, second["refresh_token"], third["refresh_token"]}) == 3
    assert second["scope"] == SCOPES and second["expires_in"] == 3599
    claims = decode(http, base_url, second["id_token"])
    assert "nonce" not in claims and claims["aud"] == CLIENT_ID
    assert refresh(http, base_url, second["refresh_token"]).status_code == 200


def test_a_revoked_grant_cannot_be_refreshed(http, base_url):
    first = tokens(http, base_url, email="adele@contoso.onmicrosoft.com")["refresh_token"]
    second = refresh(http, base_url, first).json()["refresh_token"]
    others = tokens(http, base_url, email="alex@contoso.onmicrosoft.com")["refresh_token"]

    revoked = http.post(f"{base_url}/_devidp/revoke", json={"email": "Adele@contoso.onmicrosoft.com"}).json()

    assert revoked == {"revoked": 1}
    assert_aadsts(refresh(http, base_url, first), 400, "invalid_grant", 50173)
    assert_aadsts(refresh(http, base_url, second), 400, "invalid_grant", 50173)
    assert refresh(http, base_url, others).status_code == 200


def test_revoking_one_refresh_token_revokes_its_grant_only(http, base_url):
    first = tokens(http, base_url)["refresh_token"]
    rotated = refresh(http, base_url, first).json()["refresh_token"]
    unrelated = tokens(http, base_url)["refresh_token"]

    http.post(f"{base_url}/_devidp/revoke", json={"refresh_token": rotated})

    assert_aadsts(refresh(http, base_url, first), 400, "invalid_grant", 50173)
    assert refresh(http, base_url, unrelated).status_code == 200


def test_an_inactive_refresh_token_expires(http, base_url):
    refresh_token = tokens(http, base_url)["refresh_token"]

    http.post(f"{base_url}/_devidp/revoke", json={"refresh_token": refresh_token, "expire": True})

    assert_aadsts(refresh(http, base_url, refresh_token), 400, "invalid_grant", 700082)


def test_an_unknown_refresh_token_is_invalid(http, base_url):
    assert_aadsts(refresh(http, base_url, "garbage"), 400, "invalid_grant", 70000)


# Client credentials


def client_credentials(http, base_url, tenant=TENANT, scope="https://outlook.office365.com/.default"):
    return http.post(
        f"{base_url}/{tenant}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(CLIENT_ID, SECRET),
    )


def test_client_credentials_give_an_app_only_access_token(http, base_url):
    response = client_credentials(http, base_url)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    introspected = introspect(http, base_url, body["access_token"])
    assert introspected["active"] is True and introspected["email"] is None
    assert introspected["scope"] == "https://outlook.office365.com/.default"


@pytest.mark.parametrize("tenant", ["common", "consumers"])
def test_client_credentials_do_not_work_on_multi_tenant_paths(http, base_url, tenant):
    assert_aadsts(client_credentials(http, base_url, tenant), 400, "invalid_request", 9001023)


def test_client_credentials_need_a_default_scope(http, base_url):
    response = client_credentials(http, base_url, scope="https://outlook.office365.com/IMAP.AccessAsApp")

    assert_aadsts(response, 400, "invalid_scope", 1002012)


def test_client_credentials_check_the_secret(http, base_url):
    response = http.post(
        f"{base_url}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": "https://outlook.office365.com/.default"},
        auth=(CLIENT_ID, DEFAULT_SECRET_ID),
    )

    assert_aadsts(response, 401, "invalid_client", 7000215)


# Test knobs


@pytest.mark.parametrize(
    "tampering, failure",
    [
        ("nonce", InvalidClaimError),
        ("issuer", InvalidClaimError),
        ("audience", InvalidClaimError),
        ("signature", BadSignatureError),
        ("expired", ExpiredTokenError),
    ],
)
def test_each_id_token_tampering_fails_its_check(http, base_url, tampering, failure):
    verify_id_token(http, base_url, tokens(http, base_url)["id_token"])
    behave(http, base_url, id_token=tampering)

    id_token = tokens(http, base_url)["id_token"]

    with pytest.raises(failure):
        verify_id_token(http, base_url, id_token)
    behave(http, base_url, id_token=None)
    verify_id_token(http, base_url, tokens(http, base_url)["id_token"])


def test_the_token_delay_knob_slows_the_token_endpoint(http, base_url):
    code, verifier = sign_in(http, base_url)
    behave(http, base_url, token_delay=0.3)

    with pytest.raises(requests.exceptions.ReadTimeout):
        http.post(f"{base_url}/{TENANT}/oauth2/v2.0/token", data={}, timeout=0.05)
    started = time.monotonic()
    response = redeem(http, base_url, code, verifier)

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_the_token_status_knob_fails_the_token_endpoint(http, base_url):
    refresh_token = tokens(http, base_url)["refresh_token"]
    behave(http, base_url, token_status=503)

    assert_aadsts(refresh(http, base_url, refresh_token), 503, "temporarily_unavailable", 90033)
    behave(http, base_url, token_status=429)
    assert_aadsts(refresh(http, base_url, refresh_token), 429, "temporarily_unavailable", 90055)
    behave(http, base_url, token_status=None)
    assert refresh(http, base_url, refresh_token).status_code == 200


def test_the_granted_scopes_knob_grants_less_than_asked(http, base_url):
    behave(http, base_url, granted_scopes="https://outlook.office.com/IMAP.AccessAsUser.All openid")

    body = tokens(http, base_url)

    assert body["scope"] == "https://outlook.office.com/IMAP.AccessAsUser.All openid"


def test_the_expires_in_knob_shortens_access_tokens(http, base_url):
    behave(http, base_url, expires_in=5)

    body = tokens(http, base_url)

    assert body["expires_in"] == 5 and body["ext_expires_in"] == 5


def test_the_authorize_error_knob_refuses_the_next_accept_only(http, base_url):
    refusal = {"error": "invalid_grant", "code": 65001, "description": "No consent."}
    behave(http, base_url, authorize_error=refusal)
    verifier, challenge = pkce()
    url = authorize_url(base_url, challenge)

    location = approve(http, base_url, url)

    assert_redirected_error(location, "invalid_grant", 65001)
    assert query_of(location)["error_description"].startswith("AADSTS65001: No consent. Trace ID: ")
    assert "code" in query_of(approve(http, base_url, url))


def test_knobs_are_validated(http, base_url):
    assert http.post(f"{base_url}/_devidp/behaviour", json={"token_dely": 1}).status_code == 400
    assert http.post(f"{base_url}/_devidp/behaviour", json={"id_token": "bogus"}).status_code == 400
    assert http.post(f"{base_url}/_devidp/behaviour", json={"token_status": 200}).status_code == 400
    response = http.post(f"{base_url}/_devidp/behaviour", json={"token_status": 500, "id_token": "nonce"})
    assert response.json()["token_status"] == 500
    assert http.post(f"{base_url}/_devidp/behaviour", json={"id_token": None}).json()["token_status"] == 500


def test_stats_count_what_reached_the_provider(http, base_url):
    _, challenge = pkce()
    http.get(authorize_url(base_url, challenge, login_hint="adele@contoso.onmicrosoft.com"))
    refresh_token = tokens(http, base_url)["refresh_token"]
    refresh(http, base_url, refresh_token)
    refresh(http, base_url, refresh_token)
    client_credentials(http, base_url)

    stats = http.get(f"{base_url}/_devidp/stats").json()

    assert stats["token_requests"] == {"authorization_code": 1, "refresh_token": 2, "client_credentials": 1}
    assert stats["authorize_requests"] == 2
    assert stats["last_authorize_params"]["code_challenge_method"] == "S256"
    assert stats["last_authorize_params"]["scope"] == SCOPES
    assert "login_hint" not in stats["last_authorize_params"]


def test_reset_forgets_codes_tokens_and_counters(http, base_url):
    code, verifier = sign_in(http, base_url)
    refresh_token = tokens(http, base_url)["refresh_token"]
    behave(http, base_url, token_status=503)

    http.post(f"{base_url}/_devidp/reset")

    assert_aadsts(redeem(http, base_url, code, verifier), 400, "invalid_grant", 70000)
    assert_aadsts(refresh(http, base_url, refresh_token), 400, "invalid_grant", 70000)
    stats = http.get(f"{base_url}/_devidp/stats").json()
    assert stats["authorize_requests"] == 0 and stats["token_requests"]["authorization_code"] == 1


# Compatibility with Authlib, as our app uses it


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_signs_in_refreshes_and_verifies_the_id_token(http, base_url, auth_method):
    metadata = http.get(f"{base_url}/{TENANT}/v2.0/.well-known/openid-configuration").json()
    oauth = OAuth2Session(
        CLIENT_ID,
        SECRET,
        scope=SCOPES,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    )
    with oauth:
        code_verifier = secrets.token_urlsafe(48)
        url, state = oauth.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=code_verifier, nonce="nonce-456"
        )
        location = approve(http, base_url, url)
        token = oauth.fetch_token(
            metadata["token_endpoint"], authorization_response=location, code_verifier=code_verifier
        )
        first_refresh_token = token["refresh_token"]
        refreshed = oauth.refresh_token(metadata["token_endpoint"])

    claims = verify_id_token(http, base_url, token["id_token"])
    assert claims["tid"] == TENANT and claims["iss"] == metadata["issuer"]
    assert refreshed["refresh_token"] != first_refresh_token
    assert oauth.token["refresh_token"] == refreshed["refresh_token"]
    assert http.get(f"{base_url}/_devidp/stats").json()["last_authorize_params"]["state"] == state


# Around the edges


def test_logout_returns_to_a_registered_uri_only(http, base_url):
    response = http.get(
        f"{base_url}/{TENANT}/oauth2/v2.0/logout", params={"post_logout_redirect_uri": REDIRECT_URI},
        allow_redirects=False,
    )
    assert response.status_code == 302 and response.headers["Location"] == REDIRECT_URI

    response = http.get(
        f"{base_url}/{TENANT}/oauth2/v2.0/logout",
        params={"post_logout_redirect_uri": "https://evil.example/"},
    )
    assert response.status_code == 200 and "signed out" in response.text


def test_the_error_page_explains_a_code(http, base_url):
    response = http.get(f"{base_url}/error", params={"code": 7000215})

    assert "AADSTS7000215" in response.text and "not its Secret ID" in response.text


def test_introspection_reports_a_user_token_and_forgets_unknown_ones(http, base_url):
    access_token = tokens(http, base_url, email="alex@contoso.onmicrosoft.com")["access_token"]

    body = introspect(http, base_url, access_token)

    assert body["active"] is True and body["email"] == "alex@contoso.onmicrosoft.com"
    assert body["client_id"] == CLIENT_ID and body["tid"] == TENANT
    assert introspect(http, base_url, "nope") == {"active": False}
    assert "mailbox" not in body


def may_open(http, base_url, access_token, mailbox, protocol="imap") -> dict:
    """Ask the provider whether the token may open the mailbox over the protocol."""
    body = {"access_token": access_token, "mailbox": mailbox, "protocol": protocol}
    response = http.post(f"{base_url}/_devidp/introspect", json=body)
    assert response.status_code == 200, response.text
    return response.json()["mailbox"]


def test_introspection_tells_which_mailboxes_a_token_may_open(http, base_url):
    adele = tokens(http, base_url, email="adele@contoso.onmicrosoft.com")["access_token"]
    alex = tokens(http, base_url, email="alex@contoso.onmicrosoft.com")["access_token"]
    lee = tokens(http, base_url, email="lee@contoso.onmicrosoft.com")["access_token"]

    assert may_open(http, base_url, adele, "Adele@contoso.onmicrosoft.com") == {
        "address": "adele@contoso.onmicrosoft.com", "allowed": True, "refusal": None, "send_as": True,
    }
    assert may_open(http, base_url, adele, "sales@contoso.onmicrosoft.com")["allowed"] is True
    assert may_open(http, base_url, alex, "sales@contoso.onmicrosoft.com")["refusal"] == "no Full Access"
    assert may_open(http, base_url, adele, "sales@contoso.onmicrosoft.com", "smtp")["send_as"] is True
    assert may_open(http, base_url, alex, "sales@contoso.onmicrosoft.com", "smtp")["send_as"] is False
    assert may_open(http, base_url, alex, "adele@contoso.onmicrosoft.com")["refusal"] == (
        "another user's mailbox"
    )
    assert may_open(http, base_url, alex, "nobody@contoso.onmicrosoft.com")["refusal"] == "no such mailbox"
    assert may_open(http, base_url, lee, "lee@contoso.onmicrosoft.com")["refusal"] == "IMAP disabled"
    assert may_open(http, base_url, lee, "lee@contoso.onmicrosoft.com", "smtp")["allowed"] is True


def test_a_mailbox_opens_only_with_its_protocol_permission_granted(http, base_url):
    behave(http, base_url, granted_scopes="https://outlook.office.com/SMTP.Send offline_access")
    access_token = tokens(http, base_url, email="adele@contoso.onmicrosoft.com")["access_token"]

    assert may_open(http, base_url, access_token, "adele@contoso.onmicrosoft.com")["refusal"] == (
        "permission not granted"
    )
    assert may_open(http, base_url, access_token, "adele@contoso.onmicrosoft.com", "smtp")["allowed"] is True


def test_a_revoked_or_expired_access_token_is_no_longer_live(http, base_url):
    revoked = tokens(http, base_url)["access_token"]
    expired = tokens(http, base_url)["access_token"]
    kept = tokens(http, base_url)["access_token"]

    assert http.post(f"{base_url}/_devidp/revoke", json={"access_token": revoked}).json() == {"revoked": 1}
    http.post(f"{base_url}/_devidp/revoke", json={"access_token": expired, "expire": True})

    assert introspect(http, base_url, revoked) == {"active": False}
    assert introspect(http, base_url, expired) == {"active": False}
    assert introspect(http, base_url, kept)["active"] is True


def test_a_config_can_add_shared_mailboxes_and_switch_protocols_off(http):
    config = {
        **TEST_CONFIG,
        "users": [
            {**user, "smtp_auth_enabled": user["email"] != "alex@contoso.onmicrosoft.com"}
            for user in TEST_CONFIG["users"]
        ],
        "shared_mailboxes": [
            {
                "email": "support@contoso.onmicrosoft.com",
                "tenant": TENANT,
                "full_access": ["Alex@contoso.onmicrosoft.com"],
                "imap_enabled": False,
            }
        ],
    }
    with serve(create_app(config)) as base_url:
        alex = tokens(http, base_url, email="alex@contoso.onmicrosoft.com")["access_token"]
        assert may_open(http, base_url, alex, "support@contoso.onmicrosoft.com", "smtp")["allowed"] is True
        assert may_open(http, base_url, alex, "support@contoso.onmicrosoft.com")["refusal"] == "IMAP disabled"
        assert may_open(http, base_url, alex, "alex@contoso.onmicrosoft.com", "smtp")["refusal"] == (
            "SMTP AUTH disabled"
        )
        assert may_open(http, base_url, alex, "sales@contoso.onmicrosoft.com")["refusal"] == "no such mailbox"


def test_no_request_line_is_logged_by_the_test_server(http, base_url, caplog):
    with caplog.at_level(logging.DEBUG):
        code, verifier = sign_in(http, base_url)
        redeem(http, base_url, code, verifier)

    assert code not in caplog.text and verifier not in caplog.text


def test_the_command_line_server_logs_paths_without_query_strings(caplog):
    server = make_server("127.0.0.1", 0, create_app(), request_handler=PathOnlyRequestHandler)
    answering = threading.Thread(target=server.handle_request)
    answering.start()
    with caplog.at_level(logging.INFO, logger="werkzeug"), requests.Session() as http:
        http.get(f"http://127.0.0.1:{server.server_port}/{TENANT}/oauth2/v2.0/authorize?code=secret-code")
    answering.join()
    server.server_close()

    assert f"GET /{TENANT}/oauth2/v2.0/authorize" in caplog.text
    assert "secret-code" not in caplog.text


def test_the_command_line_prints_the_fixed_defaults():
    printed = instructions(create_app(), "http://127.0.0.1:5001")

    assert f"Application (Client) ID:  {DEFAULT_CLIENT_ID}" in printed
    assert f"Client Secret (Value):    {DEFAULT_SECRET_VALUE}" in printed
    assert f"Directory (tenant) ID:    {DEFAULT_TENANT_ID}" in printed
    assert "OROFLASK_MICROSOFT_AUTHORITY=http://127.0.0.1:5001" in printed
    assert "Adele Vance <adele@contoso.onmicrosoft.com>" in printed
    assert "Lee Gu <lee@contoso.onmicrosoft.com> (IMAP disabled)" in printed
    assert "Sales <sales@contoso.onmicrosoft.com>, Full Access: adele@contoso.onmicrosoft.com" in printed
    assert len(DEFAULT_SECRET_VALUE) == 40 and "~" in DEFAULT_SECRET_VALUE


def test_the_command_line_reads_a_config_file_and_redirect_uris(tmp_path):
    config = tmp_path / "devidp.json"
    config.write_text('{"expires_in": 120}')

    app = build_app(str(config), ["http://localhost:8000/callback"])

    directory = app.extensions["devidp"].directory
    assert directory.expires_in == 120
    assert directory.clients[0].redirect_uris == ("http://localhost:8000/callback",)


def test_a_misconfigured_directory_is_refused():
    with pytest.raises(ValueError, match="expire_in"):
        create_app({"expire_in": 10})
    with pytest.raises(ValueError, match="not configured"):
        create_app({"tenants": [{"id": FABRIKAM, "domains": []}]})
    with pytest.raises(ValueError, match="exact URIs"):
        create_app({"clients": [{"client_id": CLIENT_ID, "tenant": TENANT, "redirect_uris": "*"}]})
