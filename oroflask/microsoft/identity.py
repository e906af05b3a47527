"""The Microsoft identity platform v2.0: discovery, authorization, tokens, credential checks.

Every call goes out with connect and read time-outs and a total deadline; what Microsoft answers
comes back as a MicrosoftError (explained by errors.py) or, for a network failure, a slow answer
or a 5xx, as ProviderUnavailable. Nothing here writes a token, code or secret to a log or an error.
"""

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests
import urllib3
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from joserfc.errors import JoseError
from requests.adapters import HTTPAdapter

from .errors import IdTokenRejected, MicrosoftError, ProviderUnavailable, UnusableAnswer

IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
SCOPES = ("openid", "profile", "email", "offline_access", IMAP_SCOPE, SMTP_SCOPE)
MAIL_SCOPES = (IMAP_SCOPE, SMTP_SCOPE)
# Client credentials ask for the Exchange Online resource: it also proves the tenant has it.
CREDENTIALS_CHECK_SCOPE = "https://outlook.office365.com/.default"
METADATA_TTL_SECONDS = 3600
LOOPBACK_NAMES = ("localhost",)
# How often a passed deadline looks again for a connection that was still being opened.
DEADLINE_RECHECK_SECONDS = 0.05

# Authlib logs the PKCE verifier at DEBUG level.
logging.getLogger("authlib").setLevel(logging.INFO)


class DeadlineExceeded(requests.Timeout):
    """A call to Microsoft took longer than MICROSOFT_HTTP_DEADLINE, whatever it was waiting for."""


@dataclass(frozen=True)
class Registration:
    """The application registration in force: saved settings, else configured defaults."""

    client_id: str
    client_secret: str
    tenant: str
    authority: str


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and the values that redeem its answer: keep them on the server."""

    url: str
    code_verifier: str
    nonce: str


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


def deadline() -> float:
    """Return the seconds that one call to Microsoft may take in all, answer included."""
    return current_app.config["MICROSOFT_HTTP_DEADLINE"]


class _Deadline:
    """Shut a call's connections down when its deadline passes.

    Connect and read time-outs bound each wait for a byte, not the call: a server that sends a
    byte now and then would hold the worker for ever. A blocked read on a shut-down socket ends
    at once, whichever part of the answer it was waiting for.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.passed = False
        self._connections: list = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="microsoft-deadline", daemon=True)

    def __enter__(self) -> "_Deadline":
        self._watchdog.start()
        return self

    def __exit__(self, *exception) -> None:
        with self._lock:
            self._done.set()
        self._watchdog.join()

    def add(self, connection) -> None:
        """Watch this connection and the socket it has now (its response keeps it after a close)."""
        with self._lock:
            if connection not in self._connections:
                self._connections.append(connection)
            if connection.sock is not None and connection.sock not in self._sockets:
                self._sockets.append(connection.sock)
            if self.passed:
                self._shut_down()

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        # A connection being opened has no socket yet: look again until the call gives up.
        while True:
            with self._lock:
                if self._done.is_set():
                    return
                self.passed = True
                self._shut_down()
            if self._done.wait(DEADLINE_RECHECK_SECONDS):
                return

    def _shut_down(self) -> None:
        sockets = self._sockets + [c.sock for c in self._connections if c.sock is not None]
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already


# The deadline of the call this thread is sending, for its connections to join.
_current = threading.local()


class _WatchedConnection:
    """A urllib3 connection that joins the deadline of the call it serves."""

    def connect(self) -> None:
        _join_deadline(self)
        super().connect()
        _join_deadline(self)

    def request(self, *args, **kwargs) -> None:
        _join_deadline(self)
        super().request(*args, **kwargs)
        _join_deadline(self)


def _join_deadline(connection) -> None:
    watched = getattr(_current, "deadline", None)
    if watched is not None:
        watched.add(connection)


class _HTTPConnection(_WatchedConnection, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


WATCHED_POOLS = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """Send each request with a total deadline, its answer's body read before the deadline ends."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS proxies bring pool classes of their own
            manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager

    def send(self, request, stream=False, timeout=None, **kwargs) -> requests.Response:
        with _Deadline(self.seconds) as watched:
            _current.deadline = watched
            try:
                response = super().send(request, stream=stream, timeout=self._within(timeout), **kwargs)
                response.content  # read now, while the deadline runs
            except Exception:
                if watched.passed:
                    raise DeadlineExceeded(f"no complete answer within {self.seconds:g} s") from None
                raise
            finally:
                _current.deadline = None
        return response

    def _within(self, timeout) -> tuple[float, float]:
        if timeout is None:
            connect = read = self.seconds
        elif isinstance(timeout, tuple):
            connect, read = timeout
        else:
            connect = read = timeout
        return min(connect, self.seconds), min(read, self.seconds)


def _with_deadline(session: requests.Session) -> requests.Session:
    adapter = DeadlineAdapter(deadline())
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _OAuth2Session(OAuth2Session):
    """Authlib's requests session, each of its calls within the deadline."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _with_deadline(self)


class _FlaskOAuth2App(FlaskOAuth2App):
    client_cls = _OAuth2Session


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
        with _with_deadline(requests.Session()) as http:
            response = http.get(url, timeout=timeouts())
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
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"Microsoft answered HTTP {error.response.status_code}"  # Authlib's raise_for_status
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
    return _FlaskOAuth2App(
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


def authorization_request(registration: Registration, redirect_uri: str, state: str) -> AuthorizationRequest:
    """Return the address of Microsoft's sign-in (PKCE S256, nonce, query mode) for this state.

    The verifier and the nonce are returned, not kept in the session cookie, which is signed
    but readable: the caller keeps them on the server until the answer comes back.
    """
    created = flask_client(registration).create_authorization_url(
        redirect_uri, state=state, response_mode="query", prompt="select_account"
    )
    return AuthorizationRequest(created["url"], created["code_verifier"], created["nonce"])


def complete_authorization(
    registration: Registration,
    answer: Mapping[str, str],
    *,
    redirect_uri: str,
    code_verifier: str,
    nonce: str,
) -> Grant:
    """Redeem the code of Microsoft's answer on the Redirect URI; validate the id_token; return the grant."""
    if answer.get("error"):
        raise MicrosoftError.from_redirect(answer["error"][:100], answer.get("error_description"))
    code = answer.get("code")
    if not code:
        raise UnusableAnswer("It carries neither an authorization code nor an error")
    client = flask_client(registration)
    try:
        token = client.fetch_access_token(redirect_uri=redirect_uri, code=code, code_verifier=code_verifier)
        claims = client.parse_id_token(token, nonce=nonce, claims_options=id_token_checks(registration))
    except requests.RequestException as error:
        raise ProviderUnavailable(_network_problem(error)) from None
    except JoseError as error:
        raise IdTokenRejected(_jose_problem(error)) from None
    except OAuthError as error:
        raise MicrosoftError(str(error.error or "unknown_error")[:100]) from None
    except (AuthlibBaseError, ValueError, TypeError, KeyError, AttributeError) as error:
        # What Authlib and joserfc raise on a malformed token answer or key set.
        raise UnusableAnswer(f"Its tokens or the tenant's keys are malformed ({type(error).__name__})") from None
    if claims is None:
        raise IdTokenRejected("Microsoft returned no id_token")
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
    session = _OAuth2Session(
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
        with _with_deadline(requests.Session()) as http:
            response = http.post(
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
