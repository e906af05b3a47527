"""Authorizing the application with Microsoft, without HTTP: attempts, the callback's outcome,
the stored connection and what the page shows of it."""

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Row, bindparam, select, update

from ..auth.access import SignedInUser
from ..database import utcnow
from ..encryption import UndecryptableError, decrypt, encrypt
from ..extensions import db
from ..microsoft import identity
from ..microsoft.errors import MicrosoftError, ProviderUnavailable, explain
from ..settings import service as settings_service
from ..settings.models import MicrosoftSettings
from .models import (
    CLOSED,
    CONNECTION_ID,
    FAILED,
    PENDING,
    REDEEMING,
    SUCCEEDED,
    AuthorizationAttempt,
    MicrosoftConnection,
)

ATTEMPT_LIFETIME = timedelta(minutes=10)
SECRET_EXPIRY_WARNING = timedelta(days=30)


class NotReady(Exception):
    """Enable cannot start: a setting is missing or the configuration is wrong."""


class CallbackRefused(Exception):
    """A callback that belongs to no authorization this admin may finish."""


@dataclass(frozen=True)
class ConnectionView:
    """What the page shows of the connection."""

    state: str  # "not_connected", "connected" or "reconnect_needed"
    account: str | None = None
    since: datetime | None = None
    scopes: tuple[str, ...] = ()
    reason: str | None = None
    sync_enabled: bool = False


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of Verify: a message, and problems placed under the settings they concern."""

    ok: bool
    message: str
    field_errors: dict[str, str]


def registration(
    settings: MicrosoftSettings | None = None, tenant: str | None = None, changes: dict | None = None
) -> identity.Registration:
    """Return the registration in force, or raise NotReady saying what is missing or wrong.

    `changes` (as settings_service.save takes them) are values shown on the page but not saved.
    """
    settings = settings or settings_service.load()
    values = settings_service.values_after(settings, changes or {})
    missing = [settings_service.FIELDS[name].label for name, value in values.items() if not value]
    if missing:
        raise NotReady(f"Enter the {', '.join(missing)} first.")
    try:
        authority = identity.check_authority(current_app.config["MICROSOFT_AUTHORITY"])
    except ValueError as error:
        raise NotReady(str(error)) from None
    return identity.Registration(
        client_id=values["client_id"],
        client_secret=values["client_secret"],
        tenant=tenant or values["tenant"],
        authority=authority,
    )


def sign_in_origin() -> str | None:
    """Return the origin of Microsoft's sign-in pages, None while the authority is misconfigured."""
    try:
        authority = identity.check_authority(current_app.config["MICROSOFT_AUTHORITY"])
    except ValueError:
        return None
    parts = urlsplit(authority)
    return f"{parts.scheme}://{parts.netloc}"


def start(user: SignedInUser, redirect_uri: str) -> AuthorizationAttempt:
    """Record a pending authorization attempt for this admin."""
    current = registration()
    attempt = AuthorizationAttempt(
        id=secrets.token_urlsafe(16),
        user_id=user.id,
        client_id=current.client_id,
        tenant=current.tenant,
        redirect_uri=redirect_uri,
    )
    db.session.add(attempt)
    db.session.commit()
    return attempt


def attempt_of(user: SignedInUser, attempt_id: str) -> AuthorizationAttempt | None:
    """Return this admin's attempt, or None."""
    attempt = db.session.get(AuthorizationAttempt, attempt_id[:32])
    return attempt if attempt is not None and attempt.user_id == user.id else None


_REQUESTED_AT = (
    select(AuthorizationAttempt.created_at)
    .where(AuthorizationAttempt.id == bindparam("id"), AuthorizationAttempt.user_id == bindparam("user_id"))
    .scalar_subquery()
)
# The newest attempt of the admin that is not older than the one asked about: one Enable window
# serves every attempt, so an answer about an older attempt must show the newest one instead.
_ATTEMPT_STATUS = select(
    AuthorizationAttempt.id,
    AuthorizationAttempt.status,
    AuthorizationAttempt.created_at,
    AuthorizationAttempt.account,
    AuthorizationAttempt.error_title,
    AuthorizationAttempt.error_action,
    AuthorizationAttempt.error_code,
    AuthorizationAttempt.trace_id,
    AuthorizationAttempt.correlation_id,
).where(
    AuthorizationAttempt.user_id == bindparam("user_id"), AuthorizationAttempt.created_at >= _REQUESTED_AT
).order_by(AuthorizationAttempt.created_at.desc()).limit(1)


def status_of(user: SignedInUser, attempt_id: str) -> Row | None:
    """Return what the status poll shows of this admin's attempt (read only), or None.

    When the admin clicked Enable again since, that is the newest attempt: the page shows only it.
    The poll asks every 2 s while a sign-in runs: one SELECT of the shown columns, no ORM object.
    """
    return (
        db.session.connection()
        .execute(_ATTEMPT_STATUS, {"id": attempt_id[:32], "user_id": user.id})
        .first()
    )


def is_expired(attempt: AuthorizationAttempt) -> bool:
    """Tell whether a still pending attempt has outlived its ten minutes."""
    return attempt.status in (PENDING, REDEEMING) and attempt.created_at + ATTEMPT_LIFETIME < utcnow()


def begin(attempt: AuthorizationAttempt, same_window: bool) -> str | None:
    """Bind a one-time state to the attempt and return the address of Microsoft's sign-in.

    The PKCE verifier and the nonce are stored with the attempt, encrypted. Returns None when the
    attempt cannot start (it is then finished with the reason).
    """
    if attempt.status != PENDING or attempt.state_hash is not None or is_expired(attempt):
        return None
    state = secrets.token_urlsafe(32)
    attempt.state_hash = _hash(state)
    attempt.same_window = same_window
    db.session.commit()
    try:
        sign_in = identity.authorization_request(
            registration(tenant=attempt.tenant), attempt.redirect_uri, state
        )
    except NotReady as error:
        _finish(attempt, FAILED, title="Enable cannot start", action=str(error))
    except MicrosoftError as error:
        _fail_explained(attempt, error)
    except ProviderUnavailable as error:
        _finish(attempt, FAILED, title=_unavailable_title(error), action="Try again in a moment.")
    else:
        attempt.code_verifier_encrypted = encrypt(sign_in.code_verifier)
        attempt.nonce_encrypted = encrypt(sign_in.nonce)
        db.session.commit()
        return sign_in.url
    return None


def complete(user: SignedInUser, answer: Mapping[str, str], opened_here: str | None) -> AuthorizationAttempt:
    """Finish the attempt that the answer's `state` names with Microsoft's answer on the callback.

    `opened_here` is the attempt whose sign-in this browser session opened: the answer must
    come back to the same browser.
    """
    state = answer.get("state")
    if not state:
        raise CallbackRefused("The answer from Microsoft carries no state. Click Enable to start again.")
    attempt = db.session.execute(
        select(AuthorizationAttempt).where(AuthorizationAttempt.state_hash == _hash(state[:200]))
    ).scalar_one_or_none()
    if attempt is None or attempt.user_id != user.id:
        raise CallbackRefused(
            "This answer from Microsoft belongs to no authorization started here. Click Enable to start again."
        )
    if attempt.status != PENDING:
        raise CallbackRefused("This authorization was already used. Click Enable to start again.")
    if is_expired(attempt):
        _finish(attempt, FAILED, title="The authorization took longer than 10 minutes", action="Click Enable again.")
        return attempt
    if opened_here != attempt.id:
        raise CallbackRefused(
            "This authorization was started from another browser session, or a newer one replaced it. "
            "Click Enable to start again."
        )
    # Claim the attempt before redeeming, so that a replayed callback cannot redeem it too.
    claimed = db.session.execute(
        update(AuthorizationAttempt)
        .where(AuthorizationAttempt.id == attempt.id, AuthorizationAttempt.status == PENDING)
        .values(status=REDEEMING)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        raise CallbackRefused("This authorization was already used. Click Enable to start again.")
    db.session.refresh(attempt)
    try:
        _redeem(attempt, answer)
    except Exception:
        # Whatever went wrong, the page must not wait ten minutes for an attempt left redeeming.
        db.session.rollback()
        _finish(attempt, FAILED, title="The authorization could not be completed", action="Click Enable to try again.")
        raise
    return attempt


def _redeem(attempt: AuthorizationAttempt, answer: Mapping[str, str]) -> None:
    try:
        grant = identity.complete_authorization(
            registration(tenant=attempt.tenant),
            answer,
            redirect_uri=attempt.redirect_uri,
            code_verifier=decrypt(attempt.code_verifier_encrypted),
            nonce=decrypt(attempt.nonce_encrypted),
        )
    except NotReady as error:
        _finish(attempt, FAILED, title="The settings changed during the authorization", action=str(error))
    except UndecryptableError:
        _finish(
            attempt,
            FAILED,
            title="The encryption keys changed during the authorization",
            action="Click Enable to start again.",
        )
    except MicrosoftError as error:
        _fail_explained(attempt, error)
    except ProviderUnavailable as error:
        _finish(attempt, FAILED, title=_unavailable_title(error), action="Click Enable to try again.")
    except identity.UnusableAnswer as error:
        _finish(
            attempt,
            FAILED,
            title="Microsoft's answer could not be used",
            action=f"{error}. Click Enable to try again.",
        )
    except identity.IdTokenRejected as error:
        _finish(
            attempt,
            FAILED,
            title="Microsoft's answer failed a security check",
            action=f"Nothing was stored: {error}. Click Enable to try again.",
        )
    else:
        _connect(attempt, grant)


def closed(attempt: AuthorizationAttempt) -> None:
    """Record that the sign-in window was closed while the attempt was still waiting."""
    if attempt.status == PENDING and not is_expired(attempt):
        _finish(
            attempt,
            CLOSED,
            title="The sign-in window was closed before the authorization finished",
            action="Click Enable to try again.",
        )


def disable() -> None:
    """Turn emails sync off and delete the stored tokens."""
    connection = db.session.get(MicrosoftConnection, CONNECTION_ID)
    if connection is not None:
        db.session.delete(connection)
    settings_service.load().emails_sync_enabled = False
    db.session.commit()


def view(settings: MicrosoftSettings) -> ConnectionView:
    """Describe the connection for the page, deriving "authorization needed" from the settings."""
    connection = db.session.get(MicrosoftConnection, CONNECTION_ID)
    if connection is None:
        return ConnectionView("not_connected", sync_enabled=settings.emails_sync_enabled)
    reason = connection.reconnect_reason or _settings_changed(settings, connection)
    return ConnectionView(
        "reconnect_needed" if reason else "connected",
        account=connection.account,
        since=connection.connected_at,
        scopes=tuple(connection.scopes.split()),
        reason=reason,
        sync_enabled=settings.emails_sync_enabled,
    )


def ended_by(settings: MicrosoftSettings, changes: dict) -> str | None:
    """Say how saving `changes` would end a working connection; None when it would keep working."""
    connection = db.session.get(MicrosoftConnection, CONNECTION_ID)
    if connection is None or connection.reconnect_reason or _settings_changed(settings, connection):
        return None
    values = settings_service.values_after(settings, changes)
    if values["client_id"] != connection.client_id:
        owner = f"the application {connection.client_id}"
    elif values["tenant"] not in (connection.tenant, connection.tenant_id):
        owner = f"the directory {connection.tenant}"
    else:
        return None
    return (
        f"The stored authorization (connected as {connection.account}) belongs to {owner}: "
        "saving ends the connection, and mail sync stops until someone clicks Enable again."
    )


def enable_row(settings: MicrosoftSettings) -> dict:
    """Return what the connection row of the page (settings/_enable.html) shows."""
    return {
        "missing": settings_service.missing_for_enable(settings),
        "connection": view(settings),
    }


def verify(changes: dict | None = None) -> VerifyResult:
    """Check the tenant, the client ID and the secret without a sign-in, as the page shows them."""
    try:
        current = registration(changes=changes)
        identity.discover(current)
        if current.tenant in ("organizations", "common"):
            return VerifyResult(
                True,
                "Microsoft answers for this directory. The Application (Client) ID and the secret "
                "can only be checked against a concrete directory: Enable will check them.",
                {},
            )
        identity.check_credentials(current)
    except NotReady as error:
        return VerifyResult(False, str(error), {})
    except ProviderUnavailable as error:
        return VerifyResult(False, f"{_unavailable_title(error)}. Try again in a moment.", {})
    except MicrosoftError as error:
        explanation = explain(error)
        text = f"{explanation.title} ({explanation.code}). {explanation.action}"
        if explanation.field:
            label = settings_service.FIELDS[explanation.field].label
            return VerifyResult(False, f"Verification failed: the {label} was refused.", {explanation.field: text})
        return VerifyResult(False, text, {})
    return VerifyResult(True, "The directory, the Application (Client) ID and the client secret are valid.", {})


def secret_expiry_warning(expires_on: date | None, today: date | None = None) -> str | None:
    """Warn from 30 days before the client secret expires, and after."""
    if expires_on is None:
        return None
    today = today or utcnow().date()
    days = (expires_on - today).days
    renew = (
        "In Azure, open Certificates & secrets, create a new client secret, paste its Value here "
        "and enter its new expiry date."
    )
    if days < 0:
        return f"The client secret expired on {expires_on.isoformat()}: sign-ins and mail sync fail. {renew}"
    if days <= SECRET_EXPIRY_WARNING.days:
        when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        return f"The client secret expires {when} ({expires_on.isoformat()}). {renew}"
    return None


def _settings_changed(settings: MicrosoftSettings, connection: MicrosoftConnection) -> str | None:
    fields = settings_service.FIELDS
    client_id = settings_service.effective_value(settings, fields["client_id"])
    tenant = settings_service.effective_value(settings, fields["tenant"])
    if client_id != connection.client_id:
        return "The Application (Client) ID changed after the authorization: its tokens belong to the old application."
    if tenant not in (connection.tenant, connection.tenant_id):
        return "The Directory (tenant) ID changed after the authorization."
    return None


def _connect(attempt: AuthorizationAttempt, grant: identity.Grant) -> None:
    missing = list(grant.missing_scopes)
    if not grant.refresh_token:
        missing.append("offline_access")
    if missing:
        attempt.missing_scopes = " ".join(missing)
        _finish(
            attempt,
            FAILED,
            title="Microsoft granted fewer permissions than needed",
            action=f"Missing: {', '.join(missing)}. Add them under API permissions (delegated), "
            "grant admin consent, then click Enable again.",
        )
        return
    connection = db.session.get(MicrosoftConnection, CONNECTION_ID) or MicrosoftConnection(id=CONNECTION_ID)
    connection.account = (grant.account or "")[:254]
    connection.client_id = attempt.client_id
    connection.tenant = attempt.tenant
    connection.tenant_id = (grant.tenant_id or "")[:36]
    connection.object_id = (grant.object_id or "")[:36] or None
    connection.scopes = " ".join(grant.scopes)
    connection.access_token_encrypted = encrypt(grant.access_token)
    connection.refresh_token_encrypted = encrypt(grant.refresh_token)
    connection.access_token_expires_at = grant.expires_at
    connection.connected_at = utcnow()
    connection.refreshed_at = None
    connection.reconnect_reason = None
    db.session.add(connection)
    settings_service.load().emails_sync_enabled = True
    attempt.account = connection.account
    _finish(attempt, SUCCEEDED)
    current_app.logger.info("Microsoft connected as %s", connection.account)


def _fail_explained(attempt: AuthorizationAttempt, error: MicrosoftError) -> None:
    explanation = explain(error, attempt.redirect_uri)
    _finish(
        attempt,
        FAILED,
        title=explanation.title,
        action=explanation.action,
        code=explanation.code,
        trace_id=explanation.trace_id,
        correlation_id=explanation.correlation_id,
    )


def _finish(attempt: AuthorizationAttempt, status: str, **details) -> None:
    attempt.status = status
    attempt.finished_at = utcnow()
    attempt.error_title = (details.get("title") or "")[:200] or None
    attempt.error_action = (details.get("action") or "")[:700] or None
    attempt.error_code = details.get("code")
    attempt.trace_id = details.get("trace_id")
    attempt.correlation_id = details.get("correlation_id")
    attempt.code_verifier_encrypted = None
    attempt.nonce_encrypted = None
    db.session.commit()


def _unavailable_title(error: ProviderUnavailable) -> str:
    return f"{str(error)[:1].upper()}{str(error)[1:]}"


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
