"""Signed-in sessions kept on the server, so that they can be listed and ended.

The session cookie carries a random token and the `user_session` row its SHA-256. A request is
signed in while its row exists and has been neither idle for SESSION_IDLE_DAYS nor open for
SESSION_LIFETIME_DAYS. Apart from `touch`, these functions change the database session and leave
the commit to the caller, so that a password change and the end of its account's sessions are
one transaction.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from ..database import utcnow
from ..extensions import db
from .models import UserSession

TOKEN_BYTES = 32
USER_AGENT_LENGTH = 255
REMOTE_ADDR_LENGTH = 64
# How stale last_seen_at may get: a signed-in request writes to the database at most this often.
LAST_SEEN_PRECISION = timedelta(minutes=5)


def token_hash(token: str) -> str:
    """Return what the database keeps of a session's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _limits(now: datetime) -> tuple[datetime, datetime]:
    """Return the oldest creation and the oldest last use a session may have at `now`."""
    config = current_app.config
    return (
        now - timedelta(days=config["SESSION_LIFETIME_DAYS"]),
        now - timedelta(days=config["SESSION_IDLE_DAYS"]),
    )


def has_expired(created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    """Tell whether a session created and last seen then is too old or idle too long at `now`."""
    oldest_creation, oldest_use = _limits(now)
    return created_at < oldest_creation or last_seen_at < oldest_use


def start_session(user_id: int, user_agent: str, remote_addr: str) -> str:
    """Open a session for an account and return its token, for the session cookie.

    Sessions of any account that have expired are deleted on the way.
    """
    now = utcnow()
    oldest_creation, oldest_use = _limits(now)
    db.session.execute(
        delete(UserSession).where(
            or_(UserSession.created_at < oldest_creation, UserSession.last_seen_at < oldest_use)
        )
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            user_agent=user_agent[:USER_AGENT_LENGTH],
            remote_addr=remote_addr[:REMOTE_ADDR_LENGTH],
        )
    )
    return token


def touch(session_id: int, now: datetime) -> None:
    """Record that a session was used at `now`, in a transaction of its own.

    The request's own transaction is left alone: whatever a view has not committed stays so.
    """
    with db.engine.begin() as connection:
        connection.execute(
            update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
        )


def end_session(user_id: int, session_id: int) -> bool:
    """End one session of an account (its browser is signed out); tell whether it was open."""
    ended = db.session.execute(
        delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user_id)
    )
    return ended.rowcount > 0


def end_all_sessions(user_id: int, except_session: int | None = None) -> int:
    """End every session of an account, but `except_session` if given; return how many ended."""
    condition = UserSession.user_id == user_id
    if except_session is not None:
        condition = condition & (UserSession.id != except_session)
    return db.session.execute(delete(UserSession).where(condition)).rowcount


def active_sessions(user_id: int) -> list[UserSession]:
    """Return the open sessions of an account, the most recently seen first."""
    oldest_creation, oldest_use = _limits(utcnow())
    return list(
        db.session.execute(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.created_at >= oldest_creation,
                UserSession.last_seen_at >= oldest_use,
            )
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        ).scalars()
    )
