"""Session fixtures for any test package: the local identity provider and a Dovecot that asks it
whether a token may open a mailbox; and a helper that signs a user in for a mail access token.

Exposed to every test from tests/conftest.py.
"""

import base64
import hashlib
import os
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from oroflask.devidp import create_app
from oroflask.devidp.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CONFIG,
    DEFAULT_SECRET_VALUE,
    DEFAULT_TENANT_ID,
)
from oroflask.devidp.testing import serve

from .server import Dovecot, DovecotUnavailable, missing

ADELE = "adele@contoso.onmicrosoft.com"
ALEX = "alex@contoso.onmicrosoft.com"
LEE = "lee@contoso.onmicrosoft.com"  # IMAP disabled
DIEGO = "diego@contoso.onmicrosoft.com"  # SMTP AUTH disabled
SALES = "sales@contoso.onmicrosoft.com"  # shared; Adele has Full Access and Send As
HELPDESK = "helpdesk@contoso.onmicrosoft.com"  # shared; Adele and Alex have Full Access, only Adele Send As
MAIL_SCOPES = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send"
REDIRECT_URI = DEFAULT_CONFIG["clients"][0]["redirect_uris"][0]

# The default directory, one more user whose mailbox refuses SMTP AUTH, and one more shared mailbox
# that a delegate may open but not send from.
MAIL_DIRECTORY = {
    "shared_mailboxes": [
        *DEFAULT_CONFIG["shared_mailboxes"],
        {
            "email": HELPDESK,
            "name": "Helpdesk",
            "tenant": DEFAULT_TENANT_ID,
            "full_access": [ADELE, ALEX],
            "send_as": [ADELE],
        },
    ],
    "users": [
        *DEFAULT_CONFIG["users"],
        {
            "email": DIEGO,
            "name": "Diego Siciliani",
            "oid": "e4a6c8b0-2d4f-4b6a-8c0e-1f3a5c7e9b24",
            "tenant": DEFAULT_TENANT_ID,
            "smtp_auth_enabled": False,
        },
    ],
}


def identity_provider_settings(identity_provider: str, http_timeout: tuple[float, float] = (2, 2)) -> dict:
    """Return the settings that sign in at the local identity provider with its default application."""
    return {
        "MICROSOFT_AUTHORITY": identity_provider,
        "MICROSOFT_HTTP_TIMEOUT": http_timeout,
        "MICROSOFT_CLIENT_ID": DEFAULT_CLIENT_ID,
        "MICROSOFT_CLIENT_SECRET": DEFAULT_SECRET_VALUE,
        "MICROSOFT_TENANT": DEFAULT_TENANT_ID,
    }


def mail_server_settings(server: Dovecot) -> dict:
    """Return the settings that read mail from the test Dovecot over TLS and send it by submission."""
    return {
        "MICROSOFT_IMAP_HOST": "localhost",
        "MICROSOFT_IMAP_PORT": server.imaps_port,
        "MICROSOFT_IMAP_SECURITY": "tls",
        "MICROSOFT_SMTP_HOST": "localhost",
        "MICROSOFT_SMTP_PORT": server.submission_port,
        "MICROSOFT_SMTP_SECURITY": "starttls",
        "MAIL_CA_FILE": str(server.ca_file),
    }


def unavailable(message: str):
    """Skip the test with `message`; in CI (CI=true), fail it: there a missing server is a fault."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def mail_identity_provider():
    """Serve the local identity provider with the mail directory for the session; yield its URL."""
    with serve(create_app(MAIL_DIRECTORY)) as base_url:
        yield base_url


def started_dovecot(identity_provider: str, **options) -> Dovecot:
    """Start a Dovecot that asks `identity_provider` about tokens; skip (fail in CI) when it cannot run."""
    reason = missing()
    if reason:
        unavailable(reason)
    server = Dovecot(f"{identity_provider}/_devidp/introspect", **options)
    try:
        server.start()
    except DovecotUnavailable as error:
        server.stop()
        unavailable(str(error))
    return server


@pytest.fixture(scope="session")
def dovecot(mail_identity_provider):
    """Start Debian's Dovecot, Exchange-like, once for the session; skip (fail in CI) when it cannot."""
    server = started_dovecot(mail_identity_provider)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_condstore(mail_identity_provider):
    """Start a second Dovecot once for the session that advertises CONDSTORE, QRESYNC and ESEARCH."""
    server = started_dovecot(mail_identity_provider, capabilities="full")
    yield server
    server.stop()


def sign_in_for_token(identity_provider: str, email: str, scope: str = MAIL_SCOPES) -> str:
    """Sign `email` in at the identity provider, as the application does, and return the access token."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "client_id": DEFAULT_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "response_mode": "query",
            "scope": f"{scope} offline_access",
            "state": "state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    authorize_url = f"{identity_provider}/{DEFAULT_TENANT_ID}/oauth2/v2.0/authorize?{query}"
    with requests.Session() as http:
        approved = http.post(
            f"{identity_provider}/_devidp/approve",
            json={"authorize_url": authorize_url, "email": email},
            timeout=10,
        )
        approved.raise_for_status()
        code = parse_qs(urlsplit(approved.json()["location"]).query)["code"][0]
        response = http.post(
            f"{identity_provider}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token",
            data={
                "grant_type": "authorization_code",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_SECRET_VALUE,
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]


def revoke_token(identity_provider: str, access_token: str, expire: bool = False) -> None:
    """Revoke (or expire) one access token at the identity provider."""
    response = requests.post(
        f"{identity_provider}/_devidp/revoke",
        json={"access_token": access_token, "expire": expire},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["revoked"] == 1, response.text
