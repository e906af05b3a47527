"""The endpoints Microsoft serves at login.microsoftonline.com, answered from the dev directory."""

import time

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from . import authorize as authorize_step
from .directory import CONSUMERS_TENANT_ID, TenantPath
from .errors import REMEDIES, AadstsError, RedirectError, injected_failure, missing_parameter
from .provider import Provider
from .grants import issue

bp = Blueprint("devidp", __name__)

# Token responses must not be cached by anything between the app and the provider.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Pages carry no script at all. No form-action: browsers apply it to the redirect back to the app.
PAGE_POLICY = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"


def current_provider() -> Provider:
    """Return the provider of the app handling this request."""
    return current_app.extensions["devidp"]


def base_url() -> str:
    """Return the URL this server is reached at: it stands where https://login.microsoftonline.com would."""
    return request.url_root.rstrip("/")


def issuer(path: TenantPath) -> str:
    """Return the metadata issuer: a tenant's own, or the {tenantid} template of the multi-tenant paths."""
    if path.tenant:
        return f"{base_url()}/{path.tenant.id}/v2.0"
    if path.keyword == "consumers":
        return f"{base_url()}/{CONSUMERS_TENANT_ID}/v2.0"
    return f"{base_url()}/{{tenantid}}/v2.0"


@bp.after_request
def protect_pages(response):
    """Forbid scripts, plugins and framing on the provider's own pages."""
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


@bp.errorhandler(AadstsError)
def aadsts_error(error: AadstsError):
    """Answer a refused request with Microsoft's JSON error body."""
    return jsonify(error.body(base_url())), error.status, NO_STORE


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str):
    """Answer the OpenID Connect metadata of a tenant path."""
    path = current_provider().directory.resolve(tenant)
    endpoints = f"{base_url()}/{tenant}"
    return jsonify(
        {
            "issuer": issuer(path),
            "authorization_endpoint": f"{endpoints}/oauth2/v2.0/authorize",
            "token_endpoint": f"{endpoints}/oauth2/v2.0/token",
            "jwks_uri": f"{endpoints}/discovery/v2.0/keys",
            "end_session_endpoint": f"{endpoints}/oauth2/v2.0/logout",
            "response_modes_supported": ["query"],
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "name", "preferred_username",
                "email", "oid", "tid", "ver", "uti",
            ],
            "request_uri_parameter_supported": False,
            "tenant_region_scope": "NA",
        }
    )


@bp.get("/<tenant>/discovery/v2.0/keys")
def keys(tenant: str):
    """Answer the JWKS with the public key id_tokens are signed with."""
    provider = current_provider()
    return jsonify(provider.signer.jwks(issuer(provider.directory.resolve(tenant))))


@bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant: str):
    """Show the sign-in and consent page; on its Accept or Cancel, send the browser back to the app."""
    provider = current_provider()
    if request.method == "GET":
        provider.state.count_authorize(request.args.to_dict())
    try:
        sign_in = authorize_step.inspect(provider.directory, tenant, request.args)
        if request.method == "GET":
            return render_template("devidp/signin.html", sign_in=sign_in)
        action = request.form.get("action")
        if action == "accept":
            account = request.form.get("account")
            return redirect(authorize_step.accept(provider.directory, provider.state, sign_in, account))
        if action == "cancel":
            return redirect(authorize_step.decline(sign_in))
        raise missing_parameter("action")
    except RedirectError as refusal:
        return redirect(refusal.location)
    except AadstsError as error:
        return error_page(error)


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str):
    """Answer a token request, after the delay or with the failure a test asked for."""
    provider = current_provider()
    provider.state.count_token(request.form.get("grant_type", ""))
    knobs = provider.state.knobs()
    if knobs.token_delay:
        time.sleep(knobs.token_delay)
    if knobs.token_status:
        raise injected_failure(knobs.token_status)
    body = issue(provider, tenant, request.form, request.headers.get("Authorization"), base_url())
    return jsonify(body), 200, NO_STORE


@bp.get("/<tenant>/oauth2/v2.0/logout")
def logout(tenant: str):
    """Sign out: back to post_logout_redirect_uri when it is registered, else a signed-out page."""
    directory = current_provider().directory
    try:
        directory.resolve(tenant)
    except AadstsError as error:
        return error_page(error)
    target = request.args.get("post_logout_redirect_uri")
    if target and any(target in client.redirect_uris for client in directory.clients):
        return redirect(target)
    return render_template("devidp/signed_out.html")


@bp.get("/error")
def error_help():
    """Explain an AADSTS code, as Microsoft's error lookup page does."""
    code = request.args.get("code", type=int)
    return render_template("devidp/error.html", code=code, error=None, remedy=REMEDIES.get(code))


def error_page(error: AadstsError):
    """Show a refusal on the provider's own page, as Microsoft does when it cannot trust the app."""
    remedy = REMEDIES.get(error.code)
    return render_template("devidp/error.html", code=error.code, error=error, remedy=remedy), error.status
