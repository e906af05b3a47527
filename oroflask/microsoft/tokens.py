"""Hand out valid access tokens: refresh before expiry, store the rotated refresh token, and let
only one worker refresh a connection at a time (a lease taken by compare-and-swap, which works
the same on SQLite and PostgreSQL)."""

import secrets
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from ..connection.models import CONNECTION_ID, MicrosoftConnection
from ..database import utcnow
from ..encryption import decrypt, encrypt
from ..extensions import db
from . import identity
from .errors import MicrosoftError, ProviderUnavailable, explain

REFRESH_MARGIN = timedelta(minutes=5)
LEASE = timedelta(seconds=60)
WAIT_STEP_SECONDS = 0.1


class NotConnected(Exception):
    """No authorization is stored."""


class ReconnectNeeded(Exception):
    """The stored authorization is dead for good; an admin must authorize again."""


def access_token(registration: identity.Registration, connection_id: int = CONNECTION_ID) -> str:
    """Return a valid access token, refreshing it first when it expires within a few minutes."""
    give_up = time.monotonic() + identity.deadline() + 5
    while True:
        connection = _read(connection_id)
        _check_usable(connection, registration)
        if connection.access_token_expires_at > utcnow() + REFRESH_MARGIN:
            return decrypt(connection.access_token_encrypted)
        owner = _take_lease(connection_id)
        if owner:
            try:
                return _refresh_holding_lease(registration, connection_id, force=False)
            finally:
                _release_lease(connection_id, owner)
        if time.monotonic() > give_up:
            raise ProviderUnavailable("another worker's refresh of this connection is taking too long")
        time.sleep(WAIT_STEP_SECONDS)


def refresh_now(registration: identity.Registration, connection_id: int = CONNECTION_ID) -> None:
    """Refresh the connection now, whatever its expiry (keeps an unused grant alive)."""
    _check_usable(_read(connection_id), registration)
    owner = _take_lease(connection_id)
    if not owner:
        return  # another worker is refreshing it at this very moment: that is as good
    try:
        _refresh_holding_lease(registration, connection_id, force=True)
    finally:
        _release_lease(connection_id, owner)


def idle_connections(idle: timedelta) -> list[MicrosoftConnection]:
    """Return the live connections whose refresh token was last used before `idle` ago."""
    since = utcnow() - idle
    return list(
        db.session.execute(
            select(MicrosoftConnection).where(
                MicrosoftConnection.reconnect_reason.is_(None),
                or_(
                    MicrosoftConnection.refreshed_at < since,
                    MicrosoftConnection.refreshed_at.is_(None)
                    & (MicrosoftConnection.connected_at < since),
                ),
            )
        ).scalars()
    )


def _read(connection_id: int) -> MicrosoftConnection:
    connection = db.session.execute(
        select(MicrosoftConnection)
        .where(MicrosoftConnection.id == connection_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if connection is None:
        raise NotConnected("Microsoft is not connected")
    return connection


def _check_usable(connection: MicrosoftConnection, registration: identity.Registration) -> None:
    if connection.reconnect_reason:
        raise ReconnectNeeded(connection.reconnect_reason)
    if connection.client_id != registration.client_id:
        raise ReconnectNeeded("the Application (Client) ID changed since the authorization")
    if connection.refresh_token_encrypted is None and connection.access_token_expires_at <= utcnow():
        raise ReconnectNeeded("Microsoft gave no refresh token (offline_access was not granted)")


def _take_lease(connection_id: int) -> str | None:
    owner = secrets.token_hex(16)
    now = utcnow()
    taken = db.session.execute(
        update(MicrosoftConnection)
        .where(
            MicrosoftConnection.id == connection_id,
            or_(
                MicrosoftConnection.refresh_lease_until.is_(None),
                MicrosoftConnection.refresh_lease_until < now,
            ),
        )
        .values(refresh_lease_owner=owner, refresh_lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return owner if taken == 1 else None


def _release_lease(connection_id: int, owner: str) -> None:
    db.session.rollback()
    db.session.execute(
        update(MicrosoftConnection)
        .where(MicrosoftConnection.id == connection_id, MicrosoftConnection.refresh_lease_owner == owner)
        .values(refresh_lease_owner=None, refresh_lease_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _refresh_holding_lease(
    registration: identity.Registration, connection_id: int, *, force: bool
) -> str:
    # Re-read under the lease: the worker that held it before may have refreshed already.
    connection = _read(connection_id)
    _check_usable(connection, registration)
    if not force and connection.access_token_expires_at > utcnow() + REFRESH_MARGIN:
        return decrypt(connection.access_token_encrypted)
    if connection.refresh_token_encrypted is None:
        # Without a refresh token the access token serves until it expires, then nothing does.
        if connection.access_token_expires_at > utcnow():
            return decrypt(connection.access_token_encrypted)
        raise ReconnectNeeded("Microsoft gave no refresh token (offline_access was not granted)")
    refresh_token = decrypt(connection.refresh_token_encrypted)
    try:
        grant = identity.refresh(registration, refresh_token)
    except MicrosoftError as error:
        if error.reconnect_needed:
            _declare_dead(connection_id, refresh_token, error)
        raise
    connection.access_token_encrypted = encrypt(grant.access_token)
    connection.refresh_token_encrypted = encrypt(grant.refresh_token)
    connection.access_token_expires_at = grant.expires_at
    connection.refreshed_at = utcnow()
    if grant.scopes:
        connection.scopes = " ".join(grant.scopes)
    db.session.commit()
    current_app.logger.info("Refreshed the Microsoft connection of %s", connection.account)
    return grant.access_token


def _declare_dead(connection_id: int, refresh_token: str, error: MicrosoftError) -> None:
    # Re-read first: a new authorization may have replaced the tokens while the refresh ran.
    connection = _read(connection_id)
    stored = connection.refresh_token_encrypted
    if stored is None or decrypt(stored) != refresh_token:
        return
    explanation = explain(error)
    connection.reconnect_reason = f"{explanation.title} ({explanation.code})"[:500]
    db.session.commit()
    current_app.logger.warning(
        "The Microsoft connection of %s needs a reconnect: %s", connection.account, explanation.code
    )
