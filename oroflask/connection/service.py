"""Authorizing the application with Microsoft, without HTTP: attempts, the callback's outcome,
the stored connection and what the page shows of it."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Row, bindparam, select, update

from ..auth.access import SignedInUser
from ..database import utcnow
from ..encryption import encrypt
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


def registration(settings: MicrosoftSettings | None = None, tenant: str | None = None) -> identity.Registration:
    """Return the registration in force, or raise NotReady saying what is missing or wrong."""
    settings = settings or settings_service.load()
    missing = settings_service.missing_for_enable(settings)
    if missing:
        raise NotReady(f"Enter the {', '.join(missing)} first.")
    try:
        authority = identity.check_authority(current_app.config["MICROSOFT_AUTHORITY"])
    except ValueError as error:
        raise NotReady(str(error)) from None
    fields = settings_service.FIELDS
    return identity.Registration(
        client_id=settings_service.effective_value(settings, fields["client_id"]),
        client_secret=settings_service.effective_value(settings, fields["client_secret"]),
        tenant=tenant or settings_service.effective_value(settings, fields["tenant"]),
        authority=authority,
    )


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
).where(AuthorizationAttempt.id == bindparam("id"), AuthorizationAttempt.user_id == bindparam("user_id"))


def status_of(user: SignedInUser, attempt_id: str) -> Row | None:
    """Return what the status poll shows of this admin's attempt (read only), or None.

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


def begin(attempt: AuthorizationAttempt, same_window: bool):
    """Bind a one-time state to the attempt and return the redirect to Microsoft.

    Returns None when the attempt cannot start (it is then finished with the reason).
    """
    if attempt.status != PENDING or attempt.state_hash is not None or is_expired(attempt):
        return None
    state = secrets.token_urlsafe(32)
    attempt.state_hash = _hash(state)
    attempt.same_window = same_window
    db.session.commit()
    try:
        return identity.authorize_redirect(
            registration(tenant=attempt.tenant), attempt.redirect_uri, state
        )
    except NotReady as error:
        _finish(attempt, FAILED, title="Enable cannot start", action=str(error))
    except MicrosoftError as error:
        _fail_explained(attempt, error)
    except ProviderUnavailable as error:
        _finish(attempt, FAILED, title=_unavailable_title(error), action="Try again in a moment.")
    return None


def complete(user: SignedInUser, state: str | None) -> AuthorizationAttempt:
    """Finish the attempt that `state` names with Microsoft's answer on the callback."""
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
    if not identity.state_is_bound_to_session(state):
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
        grant = identity.complete_authorization(registration(tenant=attempt.tenant))
    except NotReady as error:
        _finish(attempt, FAILED, title="The settings changed during the authorization", action=str(error))
    except MicrosoftError as error:
        _fail_explained(attempt, error)
    except ProviderUnavailable as error:
        _finish(attempt, FAILED, title=_unavailable_title(error), action="Click Enable to try again.")
    except identity.IdTokenRejected as error:
        _finish(
            attempt,
            FAILED,
            title="Microsoft's answer failed a security check",
            action=f"Nothing was stored: {error}. Click Enable to try again.",
        )
    else:
        _connect(attempt, grant)
    return attempt


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


def enable_row(settings: MicrosoftSettings) -> dict:
    """Return what the connection row of the page (settings/_enable.html) shows."""
    return {
        "missing": settings_service.missing_for_enable(settings),
        "connection": view(settings),
    }


def verify() -> VerifyResult:
    """Check the tenant, the client ID and the secret without a sign-in."""
    try:
        current = registration()
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
    db.session.commit()


def _unavailable_title(error: ProviderUnavailable) -> str:
    return f"{str(error)[:1].upper()}{str(error)[1:]}"


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
