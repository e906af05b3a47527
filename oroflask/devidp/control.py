"""The test control API under /_devidp/: knobs, counters, revocation and a scripted Accept."""

import re
import time
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import Blueprint, abort, jsonify, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from . import authorize as authorize_step
from .directory import PROTOCOL_SWITCHES
from .errors import AadstsError, RedirectError
from .routes import base_url, current_provider
from .state import Behaviour
from .tokens import TAMPERINGS

bp = Blueprint("control", __name__, url_prefix="/_devidp")

AUTHORIZE_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/authorize$")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Each knob with the check its value must pass and what to say when it does not.
KNOBS = {
    "token_delay": (lambda v: _number(v) and 0 <= v <= 60, "a number of seconds from 0 to 60"),
    "token_status": (lambda v: _whole(v) and 400 <= v <= 599, "an HTTP status from 400 to 599"),
    "id_token": (lambda v: v in TAMPERINGS, "one of " + ", ".join(TAMPERINGS)),
    "granted_scopes": (lambda v: isinstance(v, str), "space-separated scopes"),
    "authorize_error": (
        lambda v: isinstance(v, dict) and isinstance(v.get("error"), str) and _whole(v.get("code")),
        'an object such as {"error": "invalid_client", "code": 65001, "description": "..."}',
    ),
    "expires_in": (lambda v: _whole(v) and v >= 1, "a whole number of seconds"),
}


@bp.errorhandler(BadRequest)
def bad_request(error: BadRequest):
    """Answer a malformed control request in JSON, saying what is wrong."""
    return jsonify(error=error.description), 400


@bp.post("/behaviour")
def behaviour():
    """Change the knobs named in the body (null resets one) and answer the knobs now in force."""
    changes = _json_object()
    for name, value in changes.items():
        if name not in KNOBS:
            abort(400, f"Unknown knob '{name}': use {', '.join(KNOBS)}.")
        valid, expected = KNOBS[name]
        if value is not None and not valid(value):
            abort(400, f"'{name}' must be {expected}, or null.")
    state = current_provider().state
    with state.lock:
        for name, value in changes.items():
            setattr(state.behaviour, name, value)
    return jsonify(vars(state.knobs()))


@bp.post("/reset")
def reset():
    """Forget knobs, counters, codes and tokens; the signing key stays."""
    current_provider().state.reset()
    return jsonify(vars(Behaviour()))


@bp.post("/revoke")
def revoke():
    """Revoke (or, with "expire": true, expire) the grants behind a user's or one refresh token,
    or one access token, as Exchange Online refuses a token once its sign-in session is revoked."""
    body = _json_object()
    email, refresh_token = _text(body, "email"), _text(body, "refresh_token")
    access_token = _text(body, "access_token")
    if not email and not refresh_token and not access_token:
        abort(400, "Name the 'email', the 'refresh_token' or the 'access_token' to revoke.")
    state = current_provider().state
    with state.lock:
        grants = {
            grant
            for token, grant in state.refresh_tokens.items()
            if token == refresh_token or (email and grant.user.email == email.lower())
        }
        for grant in grants:
            if body.get("expire"):
                grant.expired = True
            else:
                grant.revoked = True
        issued = state.access_tokens.get(access_token) if access_token else None
        if issued is not None:
            if body.get("expire"):
                issued.expires_at = min(issued.expires_at, time.time())
            else:
                issued.revoked = True
    return jsonify(revoked=len(grants) + int(issued is not None))


@bp.get("/stats")
def stats():
    """Answer how many requests reached the provider and what the app last sent to authorize."""
    state = current_provider().state
    with state.lock:
        return jsonify(
            token_requests=dict(state.token_requests),
            authorize_requests=state.authorize_requests,
            last_authorize_params=state.last_authorize_params,
        )


@bp.post("/approve")
def approve():
    """Do what a browser at this authorize URL would, and answer where the provider sends it next."""
    body = _json_object()
    parts = urlsplit(_text(body, "authorize_url") or "")
    match = AUTHORIZE_PATH.match(parts.path)
    if not match:
        abort(400, "'authorize_url' must be the full authorize URL the app redirected to.")
    action = body.get("action", "accept")
    if action not in ("accept", "cancel"):
        abort(400, "'action' must be 'accept' or 'cancel'.")
    params = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    provider = current_provider()
    provider.state.count_authorize(params.to_dict())
    try:
        sign_in = authorize_step.inspect(provider.directory, unquote(match[1]), params)
        if action == "cancel":
            location = authorize_step.decline(sign_in)
        else:
            email = _text(body, "email") or sign_in.selected_email
            location = authorize_step.accept(provider.directory, provider.state, sign_in, email)
    except RedirectError as refusal:
        location = refusal.location
    except AadstsError as error:
        return jsonify(error.body(base_url())), error.status
    return jsonify(location=location)


@bp.post("/introspect")
def introspect():
    """Tell a fake mail server whether an access token is live and whom it stands for.

    With "mailbox" (an address) and "protocol" ("imap" or "smtp"), also whether the token may open
    that mailbox: its owner's own, or a shared mailbox the owner has Full Access to, with the
    protocol enabled for it and the protocol's permission granted; and whether it may send as that
    address (its own, or a shared mailbox's it has Send As on), which Exchange decides per message.
    """
    if request.mimetype == "application/x-www-form-urlencoded":
        return _introspect_rfc7662()
    body = _json_object()
    access_token, mailbox = _text(body, "access_token"), _text(body, "mailbox")
    protocol = _text(body, "protocol") or "imap"
    if protocol not in PROTOCOL_SWITCHES:
        abort(400, f"'protocol' must be one of {', '.join(PROTOCOL_SWITCHES)}.")
    provider = current_provider()
    with provider.state.lock:
        issued = provider.state.access_tokens.get(access_token)
        live = issued is not None and issued.is_live()
    if not live:
        return jsonify(active=False)
    answer = {
        "active": True,
        "client_id": issued.client_id,
        "email": issued.user.email if issued.user else None,
        "tid": issued.tid,
        "scope": " ".join(issued.scopes),
        "expires_at": int(issued.expires_at),
    }
    if mailbox is not None:
        refusal = (
            provider.directory.mailbox_refusal(issued.user, mailbox, protocol, issued.scopes)
            if issued.user
            else "app-only token"
        )
        address = mailbox.strip().lower()
        send_as = issued.user is not None and provider.directory.may_send_as(issued.user, mailbox)
        answer["mailbox"] = {"address": address, "allowed": refusal is None, "refusal": refusal, "send_as": send_as}
    return jsonify(answer)


def _introspect_rfc7662():
    """Answer a token introspection request as RFC 7662 has it (a form with `token`), as Dovecot's
    oauth2 passdb sends it: whether the token is live and, if so, whose it is ("username")."""
    token = request.form.get("token", "")
    provider = current_provider()
    with provider.state.lock:
        issued = provider.state.access_tokens.get(token)
        live = issued is not None and issued.is_live() and issued.user is not None
    if not live:
        return jsonify(active=False)
    return jsonify(
        active=True,
        username=issued.user.email.lower(),
        client_id=issued.client_id,
        scope=" ".join(issued.scopes),
        exp=int(issued.expires_at),
    )


def _json_object() -> dict:
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        abort(400, "Send a JSON object.")
    return body


def _text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        abort(400, f"'{name}' must be a string.")
    return value
