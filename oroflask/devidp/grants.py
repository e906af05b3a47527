"""The token endpoint's grants: authorization code, refresh token and client credentials."""

import base64
import binascii
import hmac
import time
from datetime import datetime, timezone
from urllib.parse import unquote_plus

from .authorize import GRAPH, OIDC_SCOPES, resource_of
from .directory import Client, Directory, TenantPath, User
from .errors import AadstsError, missing_parameter
from .provider import Provider
from .state import GRANT_TYPES, AccessToken, Behaviour, Grant, State
from .tokens import id_token, opaque_token, s256


def issue(provider: Provider, segment: str, form: dict, authorization: str | None, base_url: str) -> dict:
    """Return the token response for a token request, or raise the AadstsError Microsoft would give."""
    path = provider.directory.resolve(segment)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise missing_parameter("grant_type")
    if grant_type not in GRANT_TYPES:
        raise AadstsError(
            70003, "unsupported_grant_type", f"The app requested an unsupported grant type '{grant_type}'."
        )
    if grant_type == "client_credentials" and path.keyword in ("common", "consumers"):
        raise AadstsError(
            9001023,
            "invalid_request",
            "The grant type is not supported over the /common or /consumers endpoints. Please use the "
            "/organizations or tenant-specific endpoint.",
        )
    client = authenticate(provider.directory, path, form, authorization)
    knobs = provider.state.knobs()
    if grant_type == "authorization_code":
        return _redeem_code(provider, path, client, form, knobs, base_url)
    if grant_type == "refresh_token":
        return _refresh(provider, client, form, knobs, base_url)
    return _client_credentials(provider, path, client, form, knobs)


def authenticate(directory: Directory, path: TenantPath, form: dict, authorization: str | None) -> Client:
    """Return the client that sent valid credentials (HTTP Basic or in the body), or raise."""
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AadstsError(7000215, "invalid_client", "Invalid client secret provided.", 401) from None
        client_id, _, client_secret = (unquote_plus(part) for part in decoded.partition(":"))
    if not client_id:
        raise missing_parameter("client_id")
    client = directory.client(client_id, path)
    if not client_secret:
        raise AadstsError(
            7000218,
            "invalid_client",
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            401,
        )
    matching = [s for s in client.secrets if hmac.compare_digest(s.value.encode(), client_secret.encode())]
    if not matching:
        raise AadstsError(
            7000215,
            "invalid_client",
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{client.client_id}'.",
            401,
        )
    if all(secret.is_expired() for secret in matching):
        raise AadstsError(
            7000222,
            "invalid_client",
            f"The provided client secret keys for app '{client.client_id}' are expired. Visit the Azure "
            "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
            "certificate credentials for added security: https://aka.ms/certCreds.",
            401,
        )
    return client


def _redeem_code(
    provider: Provider, path: TenantPath, client: Client, form: dict, knobs: Behaviour, base_url: str
) -> dict:
    code, redirect_uri, verifier = form.get("code"), form.get("redirect_uri"), form.get("code_verifier")
    if not code:
        raise missing_parameter("code")
    if not redirect_uri:
        raise missing_parameter("redirect_uri")
    if not verifier:
        raise missing_parameter("code_verifier")
    state = provider.state
    # Checked and marked under the lock so that two simultaneous redemptions cannot both succeed.
    with state.lock:
        issued = state.codes.get(code)
        if issued is None or issued.client_id != client.client_id:
            raise AadstsError(70000, "invalid_grant", "Provided grant is invalid or malformed.")
        if issued.tenant_key != path.key:
            raise AadstsError(
                700005,
                "invalid_grant",
                "Provided Authorization Code is intended to use against other tenant, thus rejected.",
            )
        if issued.redeemed:
            raise AadstsError(
                54005,
                "invalid_grant",
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or "
                "use an existing refresh token.",
            )
        if time.time() - issued.issued_at >= provider.directory.code_lifetime:
            raise AadstsError(
                70008,
                "invalid_grant",
                "The provided authorization code or refresh token has expired due to inactivity. Send a "
                "new interactive authorization request for this user and resource.",
            )
        if redirect_uri != issued.redirect_uri:
            raise AadstsError(
                500112,
                "invalid_grant",
                f"The reply address '{redirect_uri}' does not match the reply address "
                f"'{issued.redirect_uri}' provided when requesting Authorization code.",
            )
        if not hmac.compare_digest(s256(verifier).encode(), issued.code_challenge.encode()):
            raise AadstsError(
                501481,
                "invalid_grant",
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            )
        issued.redeemed = True
    grant = Grant(client.client_id, issued.user, issued.tid, issued.scopes)
    return _user_tokens(provider, grant, issued.scopes, issued.nonce, knobs, base_url)


def _refresh(provider: Provider, client: Client, form: dict, knobs: Behaviour, base_url: str) -> dict:
    refresh_token = form.get("refresh_token")
    if not refresh_token:
        raise missing_parameter("refresh_token")
    with provider.state.lock:
        grant = provider.state.refresh_tokens.get(refresh_token)
        revoked, expired = (grant.revoked, grant.expired) if grant else (False, False)
    if grant is None or grant.client_id != client.client_id:
        raise AadstsError(70000, "invalid_grant", "Provided grant is invalid or malformed.")
    issued_on = datetime.fromtimestamp(grant.issued_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if revoked:
        raise AadstsError(
            50173,
            "invalid_grant",
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
            f"user might have changed or reset their password. The grant was issued on '{issued_on}'.",
        )
    if expired:
        raise AadstsError(
            700082,
            "invalid_grant",
            f"The refresh token has expired due to inactivity. The token was issued on {issued_on} and "
            "was inactive for 90.00:00:00.",
        )
    scopes = list(dict.fromkeys(form.get("scope", "").split())) or grant.scopes
    return _user_tokens(provider, grant, scopes, None, knobs, base_url)


def _client_credentials(
    provider: Provider, path: TenantPath, client: Client, form: dict, knobs: Behaviour
) -> dict:
    scopes = form.get("scope", "").split()
    if not scopes:
        raise missing_parameter("scope")
    if not all(scope.endswith("/.default") for scope in scopes):
        raise AadstsError(
            1002012,
            "invalid_scope",
            f"The provided value for scope {' '.join(scopes)} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier (application ID URI).",
        )
    if len({resource_of(scope) for scope in scopes}) > 1:
        raise AadstsError(
            700022,
            "invalid_scope",
            "The provided value for the input parameter scope is not valid because it contains more than "
            "one resource.",
        )
    tid = path.tenant.id if path.tenant else client.tenant
    expires_in = knobs.expires_in or provider.directory.expires_in
    access_token = _remember_access_token(provider.state, client.client_id, None, tid, scopes, expires_in)
    return {
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    }


def _user_tokens(
    provider: Provider, grant: Grant, scopes: list[str], nonce: str | None, knobs: Behaviour, base_url: str
) -> dict:
    resource_scopes = [scope for scope in scopes if scope not in OIDC_SCOPES] or [f"{GRAPH}/User.Read"]
    granted = resource_scopes + [scope for scope in OIDC_SCOPES if scope in scopes]
    if knobs.granted_scopes is not None:
        granted = knobs.granted_scopes.split()
    expires_in = knobs.expires_in or provider.directory.expires_in
    response = {
        "token_type": "Bearer",
        "scope": " ".join(granted),
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": _remember_access_token(
            provider.state, grant.client_id, grant.user, grant.tid, granted, expires_in
        ),
    }
    if "offline_access" in grant.scopes:
        refresh_token = opaque_token()
        with provider.state.lock:
            provider.state.refresh_tokens[refresh_token] = grant
        response["refresh_token"] = refresh_token
    if "openid" in scopes:
        response["id_token"] = id_token(
            provider.signer,
            base_url=base_url,
            client_id=grant.client_id,
            user=grant.user,
            tid=grant.tid,
            scopes=scopes,
            nonce=nonce,
            tampering=knobs.id_token,
        )
    return response


def _remember_access_token(
    state: State, client_id: str, user: User | None, tid: str, scopes: list[str], expires_in: int
) -> str:
    access_token = opaque_token()
    expires_at = time.time() + expires_in
    with state.lock:
        state.access_tokens[access_token] = AccessToken(client_id, user, tid, scopes, expires_at)
    return access_token
