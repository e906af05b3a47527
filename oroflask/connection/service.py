"""Authorizing with Microsoft, without HTTP: attempts, the callback's outcome, the grants it
stores (the site's connection made by Enable) and what the page shows of them."""

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Row, bindparam, select, update

from .. import audit
from ..audit.models import CONNECTION
from ..auth.access import SignedInUser
from ..database import utcnow
from ..encryption import UndecryptableError, decrypt, encrypt
from ..extensions import db
from ..failures import EXPLAINED, Explanation, Failure, explain
from ..microsoft import identity
from ..settings import service as settings_service
from ..settings.models import MicrosoftSettings
from .models import (
    CLOSED,
    FAILED,
    PENDING,
    REDEEMING,
    SITE,
    SUCCEEDED,
    AuthorizationAttempt,
    MicrosoftGrant,
)

ATTEMPT_LIFETIME = timedelta(minutes=10)
SECRET_EXPIRY_WARNING = timedelta(days=30)


# How the site's connection is named in the audit log: as the row of Microsoft Settings that makes it.
SITE_SUBJECT = "oAuth 2.0 for Office 365 emails sync"


class NotReady(Failure):
    """Nothing can be authorized: a setting is missing or the configuration is wrong."""

    def __init__(self, action: str):
        super().__init__("", action)


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


def start(
    user: SignedInUser,
    redirect_uri: str,
    purpose: str = SITE,
    grant_id: int | None = None,
    expected_account: str | None = None,
) -> AuthorizationAttempt:
    """Record a pending authorization attempt of this user for a grant of `purpose`.

    `grant_id` names the grant that the sign-in renews; the site's is found by its purpose.
    `expected_account` is the account the sign-in must be made with, checked by the completion.
    """
    current = registration()
    if purpose == SITE:
        site = site_grant()
        grant_id = site.id if site else None
    attempt = AuthorizationAttempt(
        id=secrets.token_urlsafe(16),
        user_id=user.id,
        purpose=purpose,
        grant_id=grant_id,
        expected_account=expected_account,
        client_id=current.client_id,
        tenant=current.tenant,
        redirect_uri=redirect_uri,
    )
    db.session.add(attempt)
    db.session.commit()
    return attempt


def attempt_of(user: SignedInUser, attempt_id: str) -> AuthorizationAttempt | None:
    """Return this user's attempt, or None (also for an attempt of the site's by a user no longer admin)."""
    attempt = db.session.get(AuthorizationAttempt, attempt_id[:32])
    if attempt is None or attempt.user_id != user.id or not may_authorize(user, attempt.purpose):
        return None
    return attempt


def may_authorize(user: SignedInUser, purpose: str) -> bool:
    """Tell whether `user` may sign in for a grant of `purpose`: the site's (and those registered
    so) are for admins only."""
    return purpose not in ADMINS_ONLY or user.is_admin


def button(purpose: str) -> str:
    """Name the button that starts a sign-in for `purpose`, as the page that started it shows it."""
    return "Enable" if purpose == SITE else "Connect (or Reconnect)"


def again(purpose: str) -> str:
    """Say how to start a sign-in for `purpose` again, in the words of the page that started it."""
    return f"Click {button(purpose)} to try again."


_REQUESTED_AT = (
    select(AuthorizationAttempt.created_at)
    .where(AuthorizationAttempt.id == bindparam("id"), AuthorizationAttempt.user_id == bindparam("user_id"))
    .scalar_subquery()
)
# The newest attempt of the admin that is not older than the one asked about: one Enable window
# serves every attempt, so an answer about an older attempt must show the newest one instead.
_ATTEMPT_STATUS = select(
    AuthorizationAttempt.id,
    AuthorizationAttempt.purpose,
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
    except EXPLAINED as error:
        heading = "Enable cannot start" if attempt.purpose == SITE else "The sign-in cannot start"
        explanation = explain(error, heading=heading, redirect_uri=attempt.redirect_uri, button=button(attempt.purpose))
        fail(attempt, explanation)
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
        raise CallbackRefused(
            "The answer from Microsoft carries no state. Start again from the page you came from."
        )
    attempt = db.session.execute(
        select(AuthorizationAttempt).where(AuthorizationAttempt.state_hash == _hash(state[:200]))
    ).scalar_one_or_none()
    if attempt is None or attempt.user_id != user.id or not may_authorize(user, attempt.purpose):
        raise CallbackRefused(
            "This answer from Microsoft belongs to no authorization started here. "
            "Start again from the page you came from."
        )
    if attempt.status != PENDING:
        raise CallbackRefused(f"This authorization was already used. {again(attempt.purpose)}")
    if is_expired(attempt):
        finish(attempt, FAILED, title="The authorization took longer than 10 minutes", action=again(attempt.purpose))
        return attempt
    if opened_here != attempt.id:
        raise CallbackRefused(
            "This authorization was started from another browser session, or a newer one replaced it. "
            + again(attempt.purpose)
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
        raise CallbackRefused(f"This authorization was already used. {again(attempt.purpose)}")
    db.session.refresh(attempt)
    try:
        _redeem(user, attempt, answer)
    except Exception:
        # Whatever went wrong, the page must not wait ten minutes for an attempt left redeeming.
        db.session.rollback()
        finish(attempt, FAILED, title="The authorization could not be completed", action=again(attempt.purpose))
        raise
    return attempt


def _redeem(user: SignedInUser, attempt: AuthorizationAttempt, answer: Mapping[str, str]) -> None:
    try:
        granted = identity.complete_authorization(
            registration(tenant=attempt.tenant),
            answer,
            redirect_uri=attempt.redirect_uri,
            code_verifier=_decrypt_during_authorization(attempt, attempt.code_verifier_encrypted),
            nonce=_decrypt_during_authorization(attempt, attempt.nonce_encrypted),
        )
    except EXPLAINED as error:
        fail(
            attempt,
            explain(
                error,
                heading="The settings changed during the authorization",
                again=again(attempt.purpose),
                redirect_uri=attempt.redirect_uri,
                button=button(attempt.purpose),
            ),
        )
    else:
        account = (granted.account or "")[:254]
        expected = attempt.expected_account
        if expected and account.casefold() != expected.casefold():
            title, action = WRONG_ACCOUNT_WORDING.get(attempt.purpose, _wrong_account)(attempt, account)
            finish(attempt, FAILED, title=title, action=action)
            return
        COMPLETIONS[attempt.purpose](user, attempt, granted)


def _wrong_account(attempt: AuthorizationAttempt, account: str) -> tuple[str, str]:
    """Say that the sign-in was made with another account than the one it must be made with."""
    expected = attempt.expected_account
    return f"You signed in as {account}, but this sign-in is for {expected}", (
        f"Sign in as {expected}. {again(attempt.purpose)}"
    )


def _decrypt_during_authorization(attempt: AuthorizationAttempt, ciphertext: str | None) -> str:
    try:
        return decrypt(ciphertext)
    except UndecryptableError:
        raise Failure("The encryption keys changed during the authorization", again(attempt.purpose)) from None


def closed(attempt: AuthorizationAttempt) -> None:
    """Record that the sign-in window was closed while the attempt was still waiting."""
    if attempt.status == PENDING and not is_expired(attempt):
        finish(
            attempt,
            CLOSED,
            title="The sign-in window was closed before the authorization finished",
            action=again(attempt.purpose),
        )


def site_grant() -> MicrosoftGrant | None:
    """Return the site's grant, made by Enable on Microsoft Settings, or None."""
    return db.session.execute(select(MicrosoftGrant).where(MicrosoftGrant.purpose == SITE)).scalar_one_or_none()


def audit_subject(grant: MicrosoftGrant) -> str:
    """Name the grant in the audit log: the site's as its row of Microsoft Settings."""
    return SITE_SUBJECT if grant.purpose == SITE else f"{grant.purpose} {grant.account}"


def disable(user: SignedInUser) -> None:
    """Turn emails sync off and delete the site's stored tokens, recording it."""
    connection = site_grant()
    if connection is not None:
        db.session.delete(connection)
        audit.record(user, CONNECTION, SITE_SUBJECT, f"ended by Disable (was connected as {connection.account})")
    settings_service.load().emails_sync_enabled = False
    db.session.commit()


def record_end_by_settings(settings: MicrosoftSettings, changes: dict, user: SignedInUser) -> None:
    """Record in the audit log that saving `changes` ends the site's connection, when it does.

    Added to the session only: it is committed with the settings it describes.
    """
    setting = _setting_that_ends(settings, changes)
    if setting:
        connection = site_grant()
        audit.record(
            user,
            CONNECTION,
            SITE_SUBJECT,
            f"ended: the {settings_service.FIELDS[setting].label} changed (was connected as {connection.account})",
        )


def view(settings: MicrosoftSettings) -> ConnectionView:
    """Describe the connection for the page, deriving "authorization needed" from the settings."""
    connection = site_grant()
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
    setting = _setting_that_ends(settings, changes)
    if setting is None:
        return None
    connection = site_grant()
    if setting == "client_id":
        owner = f"the application {connection.client_id}"
    else:
        owner = f"the directory {connection.tenant}"
    return (
        f"The stored authorization (connected as {connection.account}) belongs to {owner}: "
        "saving ends the connection, and mail sync stops until someone clicks Enable again."
    )


def _setting_that_ends(settings: MicrosoftSettings, changes: dict) -> str | None:
    """Return the name of the setting whose change would end the working site connection, or None."""
    connection = site_grant()
    if connection is None or connection.reconnect_reason or _settings_changed(settings, connection):
        return None
    values = settings_service.values_after(settings, changes)
    if values["client_id"] != connection.client_id:
        return "client_id"
    if values["tenant"] not in (connection.tenant, connection.tenant_id):
        return "tenant"
    return None


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
    except EXPLAINED as error:
        explanation = explain(error)
        if explanation.field:
            label = settings_service.FIELDS[explanation.field].label
            return VerifyResult(
                False, f"Verification failed: the {label} was refused.", {explanation.field: explanation.sentence}
            )
        return VerifyResult(False, explanation.sentence, {})
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


def _settings_changed(settings: MicrosoftSettings, connection: MicrosoftGrant) -> str | None:
    fields = settings_service.FIELDS
    client_id = settings_service.effective_value(settings, fields["client_id"])
    tenant = settings_service.effective_value(settings, fields["tenant"])
    if client_id != connection.client_id:
        return "The Application (Client) ID changed after the authorization: its tokens belong to the old application."
    if tenant not in (connection.tenant, connection.tenant_id):
        return "The Directory (tenant) ID changed after the authorization."
    return None


def _connect_site(user: SignedInUser, attempt: AuthorizationAttempt, granted: identity.Grant) -> None:
    """Store what Enable's sign-in granted as the site's grant, in place of the one before."""
    connection = site_grant() or MicrosoftGrant(purpose=SITE)
    if not store_grant(user, attempt, granted, connection):
        return
    settings_service.load().emails_sync_enabled = True
    audit.record(user, CONNECTION, SITE_SUBJECT, f"connected as {connection.account}")
    finish(attempt, SUCCEEDED)
    current_app.logger.info("Microsoft connected as %s", connection.account)


# What completes a sign-in, by what it is for: (user, attempt, granted), which stores the grant
# with store_grant() and finishes the attempt. The features that own the other purposes add theirs
# (register_completion), so that this package knows nothing of them. A sign-in made with another
# account than the attempt's expected_account is refused before its completion is called.
COMPLETIONS = {SITE: _connect_site}
# How a purpose says that the sign-in was made with the wrong account: (attempt, account) gives the
# title and the action shown; _wrong_account for the purposes that give none.
WRONG_ACCOUNT_WORDING = {}
# Where the outcome of a sign-in is shown, by purpose: the endpoint and the title of the page
# that started it.
RESULT_PAGES = {SITE: ("settings.microsoft", "Microsoft Settings")}
# The purposes whose sign-ins only admins may start, see and complete.
ADMINS_ONLY = {SITE}


def register_completion(
    purpose: str,
    complete,
    result_page: str,
    result_title: str,
    admins_only: bool = False,
    wrong_account=None,
) -> None:
    """Let sign-ins for `purpose` be completed by `complete`, their outcome shown on `result_page`;
    `wrong_account` words the refusal of a sign-in made with another account than expected."""
    COMPLETIONS[purpose] = complete
    RESULT_PAGES[purpose] = (result_page, result_title)
    if wrong_account is not None:
        WRONG_ACCOUNT_WORDING[purpose] = wrong_account
    if admins_only:
        ADMINS_ONLY.add(purpose)


def store_grant(
    user: SignedInUser, attempt: AuthorizationAttempt, granted: identity.Grant, grant: MicrosoftGrant
) -> bool:
    """Put the tokens granted in `grant`, uncommitted; tell whether they serve (every permission
    needed was granted), finishing the attempt as failed when they do not."""
    missing = list(granted.missing_scopes)
    if not granted.refresh_token:
        missing.append("offline_access")
    if missing:
        attempt.missing_scopes = " ".join(missing)
        finish(
            attempt,
            FAILED,
            title="Microsoft granted fewer permissions than needed",
            action=f"Missing: {', '.join(missing)}. Add them under API permissions (delegated), "
            "grant admin consent, then "
            + ("click Enable again." if attempt.purpose == SITE else "connect the mailbox again."),
        )
        return False
    grant.user_id = user.id
    grant.account = (granted.account or "")[:254]
    grant.client_id = attempt.client_id
    grant.tenant = attempt.tenant
    grant.tenant_id = (granted.tenant_id or "")[:36]
    grant.object_id = (granted.object_id or "")[:36] or None
    grant.scopes = " ".join(granted.scopes)
    grant.access_token_encrypted = encrypt(granted.access_token)
    grant.refresh_token_encrypted = encrypt(granted.refresh_token)
    grant.access_token_expires_at = granted.expires_at
    grant.connected_at = utcnow()
    grant.refreshed_at = None
    grant.reconnect_reason = None
    db.session.add(grant)
    db.session.flush()
    attempt.grant_id = grant.id
    attempt.account = grant.account
    return True


def fail(attempt: AuthorizationAttempt, explanation: Explanation) -> None:
    """Finish the attempt as failed, with the explanation."""
    finish(
        attempt,
        FAILED,
        title=explanation.title,
        action=" ".join(part for part in (explanation.cause, explanation.action) if part),
        code=explanation.code,
        trace_id=explanation.trace_id,
        correlation_id=explanation.correlation_id,
    )


def finish(attempt: AuthorizationAttempt, status: str, **details) -> None:
    """Finish the attempt with `status` and the error's details (title, action, code...); commit."""
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


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
