"""Accounts without HTTP: first-admin setup code, creating users, slowing down password guessing."""

import hmac
import re
import secrets
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, or_, select

from ..config import read_or_create
from ..database import utcnow
from ..extensions import db
from .models import ROLES, LoginFailure, User

SETUP_CODE_FILE = "setup-code"
MIN_PASSWORD_LENGTH = 10
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the e-mail is unknown, so that a wrong address costs as long as a wrong password.
_UNKNOWN_USER_HASH = "scrypt:32768:8:1$oroflask$" + "0" * 128


class AccountError(ValueError):
    """An account could not be created; the message says why, in the user's words."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def has_users() -> bool:
    """Tell whether any account exists (once true, remembered for this process)."""
    state = current_app.extensions.setdefault("oroflask.auth", {})
    if not state.get("has_users"):
        state["has_users"] = db.session.execute(select(User.id).limit(1)).first() is not None
    return state["has_users"]


def _setup_code_path() -> Path:
    return Path(current_app.instance_path) / SETUP_CODE_FILE


def setup_code() -> str:
    """Return the one-time code that lets the first administrator be created, making it once."""
    return read_or_create(
        _setup_code_path(), lambda: "-".join(secrets.token_hex(3).upper() for _ in range(3))
    )


def check_setup_code(code: str) -> bool:
    """Tell whether `code` is the setup code (spaces and case do not matter)."""
    expected = setup_code().replace("-", "").upper()
    given = re.sub(r"[\s-]", "", code).upper()
    return hmac.compare_digest(expected.encode(), given.encode())


def normalize_email(email: str) -> str:
    """Return `email` trimmed and lower-cased, as accounts are stored."""
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    """Say what is wrong with an e-mail address for an account, if anything."""
    email = normalize_email(email)
    if not EMAIL.match(email) or len(email) > 254:
        return "Enter a valid e-mail address."
    return None


def password_problem(password: str) -> str | None:
    """Say what is wrong with a new password, if anything."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    return None


def create_user(email: str, password: str, role: str = "user") -> User:
    """Create an account, or raise AccountError naming the field at fault."""
    email = normalize_email(email)
    for name, problem in (("email", email_problem(email)), ("password", password_problem(password))):
        if problem:
            raise AccountError(name, problem)
    if role not in ROLES:
        raise AccountError("role", f"Role must be one of: {', '.join(ROLES)}.")
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise AccountError("email", "An account with this e-mail address already exists.")
    user = User(email=email, role=role)
    user.set_password(password)
    db.session.add(user)
    return user


def create_first_admin(email: str, password: str) -> User:
    """Create the first administrator and retire the setup code."""
    user = create_user(email, password, role="admin")
    db.session.commit()
    retire_setup_code()
    return user


def retire_setup_code() -> None:
    """Delete the setup code once an administrator exists."""
    _setup_code_path().unlink(missing_ok=True)
    current_app.extensions.setdefault("oroflask.auth", {})["has_users"] = True


def authenticate(email: str, password: str) -> User | None:
    """Return the user with this e-mail and password, or None."""
    user = db.session.execute(
        select(User).where(User.email == normalize_email(email))
    ).scalar_one_or_none()
    if user is None:
        User(password_hash=_UNKNOWN_USER_HASH).check_password(password)
        return None
    return user if user.check_password(password) else None


def seconds_until_next_attempt(email: str, remote_addr: str) -> int:
    """Return how long this address or account must wait before trying a password again.

    A few failures are free; after that each further failure doubles the wait, up to the window.
    """
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    allowed = current_app.config["LOGIN_FAILURES_ALLOWED"]
    since = utcnow() - timedelta(seconds=window)
    count, last = db.session.execute(
        select(func.count(LoginFailure.id), func.max(LoginFailure.failed_at)).where(
            LoginFailure.failed_at > since,
            or_(LoginFailure.email == normalize_email(email), LoginFailure.remote_addr == remote_addr),
        )
    ).one()
    if count < allowed or last is None:
        return 0
    if last.tzinfo is None:
        last = last.replace(tzinfo=utcnow().tzinfo)
    wait = min(2 ** (count - allowed), window)
    remaining = (last + timedelta(seconds=wait) - utcnow()).total_seconds()
    return max(0, int(remaining + 0.999))


def record_failure(email: str, remote_addr: str) -> None:
    """Remember a failed sign-in, and forget those older than the window."""
    now = utcnow()
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.failed_at < now - timedelta(seconds=window))
    )
    db.session.add(
        LoginFailure(email=normalize_email(email)[:254], remote_addr=remote_addr[:64], failed_at=now)
    )
    db.session.commit()


def clear_failures(email: str) -> None:
    """Forget the failed sign-ins of an account once its password was given right."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == normalize_email(email)))
    db.session.commit()
