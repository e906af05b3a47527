"""The Microsoft identity platform v2.0: discovery, authorization, tokens, credential checks.

Every call goes out with connect and read time-outs; what Microsoft answers comes back as a
MicrosoftError (explained by errors.py) or, for a network failure, a slow answer or a 5xx,
as ProviderUnavailable. Nothing here writes a token, code or secret to a log or an error.
"""

import ipaddress
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, session
from joserfc.errors import JoseError

from .errors import MicrosoftError, ProviderUnavailable

IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
SCOPES = ("openid", "profile", "email", "offline_access", IMAP_SCOPE, SMTP_SCOPE)
MAIL_SCOPES = (IMAP_SCOPE, SMTP_SCOPE)
# Client credentials ask for the Exchange Online resource: it also proves the tenant has it.
CREDENTIALS_CHECK_SCOPE = "https://outlook.office365.com/.default"
METADATA_TTL_SECONDS = 3600
LOOPBACK_NAMES = ("localhost",)
# Where Authlib's Flask client keeps an authorization's data in the session.
STATE_PREFIX = "_state_microsoft_"

# Authlib logs the PKCE verifier at DEBUG level.
logging.getLogger("authlib").setLevel(logging.INFO)


class IdTokenRejected(Exception):
    """The id_token failed a check; the message names the check, never the token."""


@dataclass(frozen=True)
class Registration:
    """The application registration in force: saved settings, else configured defaults."""

    client_id: str
    client_secret: str
    tenant: str
    authority: str


@dataclass
class Grant:
    """What a successful authorization or refresh yields."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scopes: list[str]
    account: str | None = None
    tenant_id: str | None = None
    object_id: str | None = None
    missing_scopes: list[str] = field(default_factory=list)


def check_authority(authority: str) -> str:
    """Return the authority without trailing slash; plain http is allowed for loopback hosts only."""
    parts = urlsplit(authority.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return authority.strip().rstrip("/")
    if parts.scheme == "http" and _is_loopback(host):
        return authority.strip().rstrip("/")
    raise ValueError(
        "OROFLASK_MICROSOFT_AUTHORITY must be an https:// address "
        "(http:// is accepted for a loopback host only, for local testing)"
    )


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def timeouts() -> tuple[float, float]:
    """Return the (connect, read) time-outs of every call to Microsoft."""
    return tuple(current_app.config["MICROSOFT_HTTP_TIMEOUT"])


def discover(registration: Registration) -> dict:
    """Return the tenant's OpenID metadata (cached for an hour per authority and tenant)."""
    cache = current_app.extensions.setdefault("oroflask.microsoft.metadata", {})
    key = (registration.authority, registration.tenant)
    cached = cache.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    url = f"{registration.authority}/{registration.tenant}/v2.0/.well-known/openid-configuration"
    metadata = _get_json(url)
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(name), str):
            raise ProviderUnavailable(f"the discovery document has no {name}")
    cache[key] = (time.monotonic() + METADATA_TTL_SECONDS, metadata)
    return metadata


def _get_json(url: str) -> dict:
    try:
        response = requests.get(url, timeout=timeouts())
    except requests.RequestException as error:
        raise ProviderUnavailable(_network_problem(error)) from None
    return _json_or_error(response)


def _json_or_error(response: requests.Response) -> dict:
    if response.status_code >= 500 or response.status_code == 429:
        raise ProviderUnavailable(f"Microsoft answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise ProviderUnavailable(f"Microsoft answered HTTP {response.status_code} without JSON") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable("Microsoft answered with unexpected JSON")
    if response.status_code >= 400 or "error" in body:
        raise MicrosoftError.from_body(body, response.status_code)
    return body


def _network_problem(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "Microsoft did not answer in time"
    return "Microsoft could not be reached"


def _raise_microsoft_errors(session: OAuth2Session) -> None:
    """Turn token-endpoint error bodies into MicrosoftError before Authlib drops `error_codes`."""

    def check(response: requests.Response) -> requests.Response:
        _json_or_error(response)
        return response

    session.register_compliance_hook("access_token_response", check)
    session.register_compliance_hook("refresh_token_response", check)


def flask_client(registration: Registration) -> FlaskOAuth2App:
    """Build Authlib's Flask client from the registration as saved now.

    Built afresh for every use rather than registered once: Authlib caches registered clients
    by name, and a changed client ID, secret or tenant must take effect without a restart.
    """
    metadata = discover(registration)
    return FlaskOAuth2App(
        FlaskIntegration("microsoft"),
        name="microsoft",
        client_id=registration.client_id,
        client_secret=registration.client_secret,
        client_kwargs={
            "scope": " ".join(SCOPES),
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_post",
            "default_timeout": timeouts(),
        },
        compliance_fix=_raise_microsoft_errors,
        **{key: value for key, value in metadata.items() if not key.startswith("_")},
    )


def authorize_redirect(registration: Registration, redirect_uri: str, state: str):
    """Return the redirect to Microsoft's authorize endpoint (PKCE S256, nonce, query mode).

    Authlib keeps each authorization's state, nonce and verifier in the session cookie until it
    is used or an hour has passed; a newer authorization replaces the older ones, so that a few
    abandoned sign-ins cannot push the cookie past the 4 KB browsers accept.
    """
    for key in [key for key in session if key.startswith(STATE_PREFIX)]:
        session.pop(key)
    try:
        return flask_client(registration).authorize_redirect(
            redirect_uri, state=state, response_mode="query", prompt="select_account"
        )
    except requests.RequestException as error:
        raise ProviderUnavailable(_network_problem(error)) from None


def state_is_bound_to_session(state: str) -> bool:
    """Tell whether this browser session started the authorization that `state` names."""
    return FlaskIntegration("microsoft").get_state_data(session, state) is not None


def complete_authorization(registration: Registration) -> Grant:
    """Redeem the callback's code and validate the id_token; return the grant."""
    client = flask_client(registration)
    try:
        token = client.authorize_access_token(claims_options=id_token_checks(registration))
    except MismatchingStateError:
        raise IdTokenRejected("the authorization was not started from this browser session") from None
    except OAuthError as error:
        raise MicrosoftError.from_redirect(error.error or "unknown_error", error.description) from None
    except requests.RequestException as error:
        raise ProviderUnavailable(_network_problem(error)) from None
    except JoseError as error:
        raise IdTokenRejected(_jose_problem(error)) from None
    if "userinfo" not in token:
        raise IdTokenRejected("Microsoft returned no id_token")
    claims = token["userinfo"]
    grant = _grant(token)
    grant.account = claims.get("preferred_username") or claims.get("email")
    grant.tenant_id = claims.get("tid")
    grant.object_id = claims.get("oid")
    return grant


def id_token_checks(registration: Registration) -> dict:
    """Return the id_token claim checks: audience, issuer with the token's tenant, expiry."""
    template = discover(registration)["issuer"]

    def issuer_matches(claims, issuer) -> bool:
        tenant_id = claims.get("tid")
        if not isinstance(tenant_id, str) or not tenant_id:
            return False
        # Multi-tenant metadata (common, organizations) carries the issuer as a template.
        expected = template.replace("{tenantid}", tenant_id)
        return issuer == expected and tenant_id in issuer

    return {
        "iss": {"essential": True, "validate": issuer_matches},
        "aud": {"essential": True, "value": registration.client_id},
        "exp": {"essential": True},
        "tid": {"essential": True},
    }


def _jose_problem(error: JoseError) -> str:
    name = getattr(error, "claim", None)
    if name:
        return f"the id_token's '{name}' claim is not valid"
    if type(error).__name__ == "ExpiredTokenError":
        return "the id_token has expired"
    if type(error).__name__ == "BadSignatureError":
        return "the id_token's signature does not match the tenant's keys"
    return f"the id_token could not be validated ({type(error).__name__})"


def refresh(registration: Registration, refresh_token: str) -> Grant:
    """Redeem a refresh token; the answer carries a new refresh token, which must be stored."""
    metadata = discover(registration)
    session = OAuth2Session(
        client_id=registration.client_id,
        client_secret=registration.client_secret,
        scope=" ".join(SCOPES),
        token_endpoint_auth_method="client_secret_post",
        default_timeout=timeouts(),
    )
    _raise_microsoft_errors(session)
    try:
        with session:
            token = session.refresh_token(metadata["token_endpoint"], refresh_token=refresh_token)
    except requests.RequestException as error:
        raise ProviderUnavailable(_network_problem(error)) from None
    except OAuthError as error:
        raise MicrosoftError(error.error or "unknown_error") from None
    grant = _grant(token)
    grant.refresh_token = token.get("refresh_token") or refresh_token
    return grant


def check_credentials(registration: Registration) -> None:
    """Check tenant, client ID and secret without a sign-in (discovery, then client credentials)."""
    metadata = discover(registration)
    try:
        response = requests.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "client_credentials",
                "client_id": registration.client_id,
                "client_secret": registration.client_secret,
                "scope": CREDENTIALS_CHECK_SCOPE,
            },
            timeout=timeouts(),
        )
    except requests.RequestException as error:
        raise ProviderUnavailable(_network_problem(error)) from None
    _json_or_error(response)


def _grant(token: dict) -> Grant:
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise ProviderUnavailable("Microsoft answered without an access token")
    try:
        lifetime = int(token.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600
    scopes = str(token.get("scope") or "").split()
    return Grant(
        access_token=str(token["access_token"]),
        refresh_token=token.get("refresh_token"),
        expires_at=datetime.now(timezone.utc) + timedelta(seconds=lifetime),
        scopes=scopes,
        missing_scopes=[scope for scope in MAIL_SCOPES if scope not in scopes],
    )
