"""The authorize step: check the request as Microsoft does, then sign a user in or refuse."""

import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from .directory import Client, Directory, TenantPath, User
from .errors import AadstsError, RedirectError, add_query, missing_parameter
from .state import AuthorizationCode, State
from .tokens import opaque_token

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH = "https://graph.microsoft.com"
# What the consent page says each permission allows, in Microsoft's words.
SCOPE_DESCRIPTIONS = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
    "https://outlook.office.com/IMAP.AccessAsUser.All": "Read and write access to mailboxes via IMAP",
    "https://outlook.office.com/SMTP.Send": "Send emails from mailboxes using SMTP AUTH",
}


@dataclass(frozen=True)
class AuthorizeRequest:
    """An authorize request that passed every check: what the sign-in page shows and acts on."""

    path: TenantPath
    client: Client
    redirect_uri: str
    state: str | None
    scopes: list[str]
    nonce: str | None
    code_challenge: str
    login_hint: str | None
    accounts: tuple[User, ...]

    @property
    def selected_email(self) -> str | None:
        """Return the account preselected on the page: the login_hint's, else the first."""
        emails = [user.email for user in self.accounts]
        hint = (self.login_hint or "").strip().lower()
        return hint if hint in emails else (emails[0] if emails else None)

    def describe(self, scope: str) -> str:
        """Return what a permission lets the app do."""
        return SCOPE_DESCRIPTIONS.get(scope, scope)


def inspect(directory: Directory, segment: str, params: dict) -> AuthorizeRequest:
    """Return the checked request, or raise AadstsError (shown on a page) or RedirectError."""
    path = directory.resolve(segment)
    client_id = params.get("client_id")
    if not client_id:
        raise missing_parameter("client_id")
    client = directory.client(client_id, path)
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise AadstsError(900971, "invalid_request", "No reply address provided.")
    if redirect_uri not in client.redirect_uris:
        raise AadstsError(
            50011,
            "invalid_request",
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
            f"URIs configured for the application '{client.client_id}'. Make sure the redirect URI "
            "sent in the request matches one added to your application in the Azure portal.",
        )
    response_mode = params.get("response_mode", "query")
    if response_mode != "query":
        raise AadstsError(
            70007,
            "invalid_request",
            f"The dev identity provider supports only response_mode 'query', not '{response_mode}'.",
        )
    state = params.get("state")

    def refuse(code: int, error: str, message: str) -> RedirectError:
        return RedirectError(redirect_uri, AadstsError(code, error, message), state)

    response_type = params.get("response_type")
    if not response_type:
        raise RedirectError(redirect_uri, missing_parameter("response_type"), state)
    if response_type != "code":
        raise refuse(
            70005,
            "unsupported_response_type",
            f"The dev identity provider supports only response_type 'code', not '{response_type}'.",
        )
    scopes = list(dict.fromkeys(params.get("scope", "").split()))
    if not scopes:
        raise RedirectError(redirect_uri, missing_parameter("scope"), state)
    resources = {resource_of(scope) for scope in scopes if scope not in OIDC_SCOPES}
    if len(resources) > 1:
        raise refuse(
            700022,
            "invalid_scope",
            "The provided value for the input parameter scope is not valid because it contains more "
            f"than one resource. Scope {' '.join(scopes)} is not valid.",
        )
    code_challenge = params.get("code_challenge")
    if not code_challenge:
        raise RedirectError(redirect_uri, missing_parameter("code_challenge"), state)
    method = params.get("code_challenge_method", "plain")
    if method != "S256":
        raise refuse(
            90100,
            "invalid_request",
            f"code_challenge_method '{method}' is not valid: the dev identity provider requires S256.",
        )
    return AuthorizeRequest(
        path=path,
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        scopes=scopes,
        nonce=params.get("nonce"),
        code_challenge=code_challenge,
        login_hint=params.get("login_hint"),
        accounts=directory.accounts(path),
    )


def accept(directory: Directory, state: State, request: AuthorizeRequest, email: str | None) -> str:
    """Sign the chosen account in and return where the browser goes next: the code or an error."""
    injected = state.take_authorize_error()
    if injected is not None:
        error = AadstsError(
            int(injected["code"]),
            injected["error"],
            injected.get("description") or "The dev identity provider was told to refuse this sign-in.",
        )
        raise RedirectError(request.redirect_uri, error, request.state)
    if not email:
        raise missing_parameter("account")
    user = directory.user(email)
    if user is None:
        raise AadstsError(
            50034,
            "invalid_request",
            f"The user account {email} does not exist in the directory. To sign into this application, "
            "the account must be added to the directory.",
        )
    if user not in request.accounts:
        tenant = request.path.tenant
        raise RedirectError(
            request.redirect_uri,
            AadstsError(
                50020,
                "access_denied",
                f"User account '{user.email}' from identity provider '{directory.tenant(user.tenant).name}' "
                f"does not exist in tenant '{tenant.name if tenant else request.path.segment}' and cannot "
                f"access the application '{request.client.client_id}'({request.client.name}) in that "
                "tenant.",
            ),
            request.state,
        )
    code = opaque_token()
    with state.lock:
        state.codes[code] = AuthorizationCode(
            client_id=request.client.client_id,
            tenant_key=request.path.key,
            tid=request.path.tenant.id if request.path.tenant else user.tenant,
            user=user,
            redirect_uri=request.redirect_uri,
            scopes=request.scopes,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            issued_at=time.time(),
        )
    params = {"code": code}
    if request.state is not None:
        params["state"] = request.state
    params["session_state"] = str(uuid.uuid4())
    return add_query(request.redirect_uri, params)


def decline(request: AuthorizeRequest) -> str:
    """Return where the browser goes when the user cancels: the app's redirect URI with the error."""
    error = AadstsError(65004, "access_denied", "User declined to consent to access the app.")
    return RedirectError(request.redirect_uri, error, request.state).location


def resource_of(scope: str) -> str:
    """Return the resource a scope belongs to; short names such as User.Read are Microsoft Graph's."""
    if "://" in scope:
        parts = urlsplit(scope)
        return f"{parts.scheme}://{parts.netloc}"
    return GRAPH
