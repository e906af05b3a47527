"""Hand out valid access tokens of any grant: refresh before expiry, store the rotated refresh
token, and let only one worker refresh a grant at a time (a lease per grant, taken by
compare-and-swap, which works the same on SQLite and PostgreSQL)."""

import secrets
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from .. import audit
from ..audit.models import CONNECTION
from ..database import utcnow
from ..encryption import decrypt, encrypt
from ..extensions import db
from ..failures import Failure, explain
from ..microsoft import identity
from ..microsoft.errors import MicrosoftError, ProviderUnavailable
from .models import MicrosoftGrant
from .service import audit_subject, registration

REFRESH_MARGIN = timedelta(minutes=5)
LEASE = timedelta(seconds=60)
WAIT_STEP_SECONDS = 0.1
NO_REFRESH_TOKEN = "Microsoft gave no refresh token (offline_access was not granted)"


class NotConnected(Failure):
    """The grant is not stored (any more)."""

    def __init__(self):
        super().__init__("Microsoft is not connected", "Sign in with Microsoft to connect.", reconnect=True)


class ReconnectNeeded(Failure):
    """The grant is dead for good; whoever made it must sign in again."""

    def __init__(self, reason: str):
        super().__init__(reason, "Reconnect to authorize again.", reconnect=True)


def access_token(grant_id: int) -> str:
    """Return a valid access token of the grant, refreshing it first when it expires within a few minutes."""
    current = registration()
    give_up = time.monotonic() + identity.deadline() + 5
    while True:
        grant = _read(grant_id)
        _check_usable(grant, current)
        if grant.access_token_expires_at > utcnow() + REFRESH_MARGIN:
            return decrypt(grant.access_token_encrypted)
        owner = _take_lease(grant_id)
        if owner:
            try:
                return _refresh_holding_lease(current, grant_id, force=False)
            finally:
                _release_lease(grant_id, owner)
        if time.monotonic() > give_up:
            raise ProviderUnavailable("another worker's refresh of this connection is taking too long")
        time.sleep(WAIT_STEP_SECONDS)


def refresh_now(grant_id: int) -> None:
    """Refresh the grant now, whatever its expiry (keeps an unused grant alive)."""
    current = registration()
    _check_usable(_read(grant_id), current)
    owner = _take_lease(grant_id)
    if not owner:
        return  # another worker is refreshing it at this very moment: that is as good
    try:
        _refresh_holding_lease(current, grant_id, force=True)
    finally:
        _release_lease(grant_id, owner)


def idle_grants(idle: timedelta) -> list[MicrosoftGrant]:
    """Return the live grants, of every purpose, whose refresh token was last used before `idle` ago."""
    since = utcnow() - idle
    return list(
        db.session.execute(
            select(MicrosoftGrant)
            .where(
                MicrosoftGrant.reconnect_reason.is_(None),
                or_(
                    MicrosoftGrant.refreshed_at < since,
                    MicrosoftGrant.refreshed_at.is_(None) & (MicrosoftGrant.connected_at < since),
                ),
            )
            .order_by(MicrosoftGrant.id)
        ).scalars()
    )


def _read(grant_id: int) -> MicrosoftGrant:
    grant = db.session.execute(
        select(MicrosoftGrant).where(MicrosoftGrant.id == grant_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if grant is None:
        raise NotConnected()
    return grant


def _check_usable(grant: MicrosoftGrant, current: identity.Registration) -> None:
    if grant.reconnect_reason:
        raise ReconnectNeeded(grant.reconnect_reason)
    if grant.client_id != current.client_id:
        raise ReconnectNeeded("the Application (Client) ID changed since the authorization")
    if grant.refresh_token_encrypted is None and grant.access_token_expires_at <= utcnow():
        raise ReconnectNeeded(NO_REFRESH_TOKEN)


def _take_lease(grant_id: int) -> str | None:
    owner = secrets.token_hex(16)
    now = utcnow()
    taken = db.session.execute(
        update(MicrosoftGrant)
        .where(
            MicrosoftGrant.id == grant_id,
            or_(MicrosoftGrant.refresh_lease_until.is_(None), MicrosoftGrant.refresh_lease_until < now),
        )
        .values(refresh_lease_owner=owner, refresh_lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return owner if taken == 1 else None


def _release_lease(grant_id: int, owner: str) -> None:
    db.session.rollback()
    db.session.execute(
        update(MicrosoftGrant)
        .where(MicrosoftGrant.id == grant_id, MicrosoftGrant.refresh_lease_owner == owner)
        .values(refresh_lease_owner=None, refresh_lease_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _refresh_holding_lease(current: identity.Registration, grant_id: int, *, force: bool) -> str:
    # Re-read under the lease: the worker that held it before may have refreshed already.
    grant = _read(grant_id)
    _check_usable(grant, current)
    if not force and grant.access_token_expires_at > utcnow() + REFRESH_MARGIN:
        return decrypt(grant.access_token_encrypted)
    if grant.refresh_token_encrypted is None:
        # Without a refresh token the access token serves until it expires, then nothing does.
        if grant.access_token_expires_at > utcnow():
            return decrypt(grant.access_token_encrypted)
        raise ReconnectNeeded(NO_REFRESH_TOKEN)
    refresh_token = decrypt(grant.refresh_token_encrypted)
    try:
        answer = identity.refresh(current, refresh_token)
    except MicrosoftError as error:
        if error.reconnect_needed:
            _declare_dead(grant_id, refresh_token, error)
        raise
    grant.access_token_encrypted = encrypt(answer.access_token)
    grant.refresh_token_encrypted = encrypt(answer.refresh_token)
    grant.access_token_expires_at = answer.expires_at
    grant.refreshed_at = utcnow()
    if answer.scopes:
        grant.scopes = " ".join(answer.scopes)
    db.session.commit()
    current_app.logger.info("Refreshed the Microsoft grant %s of %s", grant.id, grant.account)
    return answer.access_token


def _declare_dead(grant_id: int, refresh_token: str, error: MicrosoftError) -> None:
    # Re-read first: a new authorization may have replaced the tokens while the refresh ran.
    grant = _read(grant_id)
    stored = grant.refresh_token_encrypted
    if stored is None or decrypt(stored) != refresh_token:
        return
    grant.reconnect_reason = explain(error).summary[:500]
    audit.record(None, CONNECTION, audit_subject(grant), f"reconnect needed: {grant.reconnect_reason}")
    db.session.commit()
    current_app.logger.warning(
        "The Microsoft grant %s of %s needs a reconnect: %s", grant.id, grant.account, grant.reconnect_reason
    )
