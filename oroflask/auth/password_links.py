"""One-time links that set an account's password: made by an administrator, used once.

The link carries a random token; the database keeps only its SHA-256. A link works for
PASSWORD_LINK_HOURS, once, for an active account, and only while it is the account's newest.
These functions leave the commit to the caller, so that a link and the change it belongs to
(a new account, a reset password) are one transaction.
"""

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..audit import record
from ..audit.models import ACCOUNTS
from ..database import utcnow
from ..extensions import db
from . import sessions
from .models import PasswordLink, User

# Where a link leads, after the public address.
LINK_PATH = "/password/"
TOKEN_BYTES = 32


def make_link(user: User) -> str:
    """Make a new link for `user` and return its token; the account's older links stop working."""
    forget_links(user.id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    db.session.add(
        PasswordLink(
            token_hash=sessions.token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=current_app.config["PASSWORD_LINK_HOURS"]),
        )
    )
    return token


def forget_links(user_id: int) -> None:
    """Delete every link of an account."""
    db.session.execute(delete(PasswordLink).where(PasswordLink.user_id == user_id))


def account_of(token: str) -> User | None:
    """Return the active account this link is valid for, or None (used, replaced, expired, unknown)."""
    return db.session.execute(
        select(User)
        .join(PasswordLink, PasswordLink.user_id == User.id)
        .where(
            PasswordLink.token_hash == sessions.token_hash(token),
            PasswordLink.expires_at > utcnow(),
            User.active,
        )
    ).scalar_one_or_none()


def set_password(token: str, password: str) -> User | None:
    """Set the password of the link's account and end its sessions; None if the link is not valid.

    The link is deleted first: of two browsers sending it at once, only one finds it to delete.
    """
    user = account_of(token)
    if user is None:
        return None
    used = db.session.execute(
        delete(PasswordLink).where(
            PasswordLink.token_hash == sessions.token_hash(token), PasswordLink.user_id == user.id
        )
    ).rowcount
    if used != 1:
        return None
    forget_links(user.id)
    user.set_password(password)
    sessions.end_all_sessions(user.id)
    record(user, ACCOUNTS, user.email, "password set with a one-time link")
    return user
