"""Accounts without HTTP: first-admin setup code, creating users, slowing down password guessing."""

import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from sqlalchemy import delete, func, select

from .. import audit
from ..audit.models import SIGN_IN
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


def has_administrator() -> bool:
    """Tell whether an administrator account exists (once true, remembered for this process).

    Only an administrator ends the setup: users created from the command line before one exists
    leave the setup page open, as nobody could otherwise manage them.
    """
    state = current_app.extensions.setdefault("oroflask.auth", {})
    if not state.get("has_administrator"):
        first_admin = select(User.id).where(User.role == "admin").limit(1)
        state["has_administrator"] = db.session.execute(first_admin).first() is not None
    return state["has_administrator"]


def setup_code_path() -> Path:
    """Return the file that keeps the setup code, in this application's instance folder."""
    return Path(current_app.instance_path) / SETUP_CODE_FILE


def setup_code() -> str:
    """Return the one-time code that lets the first administrator be created, making it once."""
    return read_or_create(
        setup_code_path(), lambda: "-".join(secrets.token_hex(3).upper() for _ in range(3))
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


@cache
def _common_passwords() -> frozenset[str]:
    """Return the common passwords long enough to pass the length rule, read once per process.

    zxcvbn's list holds the 30,000 most frequent passwords of public leaks, lower-cased.
    """
    # Imported at the first check, not at start-up: the module holds megabytes of word lists
    # that a worker which never checks a password need not load.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word for word in FREQUENCY_LISTS["passwords"] if len(word) >= MIN_PASSWORD_LENGTH)


def password_problem(password: str, email: str = "") -> str | None:
    """Say what is wrong with a new password for the account of `email`, if anything."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if email and password.strip().lower() == normalize_email(email):
        return "Do not use your e-mail address as your password."
    if password.lower() in _common_passwords():
        return "This is one of the most common passwords. Choose another."
    return None


def create_user(email: str, password: str, role: str = "user") -> User:
    """Create an account, or raise AccountError naming the field at fault."""
    email = normalize_email(email)
    problems = (("email", email_problem(email)), ("password", password_problem(password, email)))
    for name, problem in problems:
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
    setup_code_path().unlink(missing_ok=True)
    current_app.extensions.setdefault("oroflask.auth", {})["has_administrator"] = True


def authenticate(email: str, password: str) -> User | None:
    """Return the account with this e-mail and password, or None; it may be deactivated."""
    user = db.session.execute(
        select(User).where(User.email == normalize_email(email))
    ).scalar_one_or_none()
    if user is None or not user.has_password:
        User(password_hash=_UNKNOWN_USER_HASH).check_password(password)
        return None
    return user if user.check_password(password) else None


class _Failures(NamedTuple):
    """The failed sign-ins from one address within the window."""

    of_account: int
    last_of_account: datetime | None
    of_address: int
    last_of_address: datetime | None


def _failures(email: str, remote_addr: str) -> _Failures:
    since = utcnow() - timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    of_account = LoginFailure.email == email
    return _Failures(
        *db.session.execute(
            select(
                func.count(LoginFailure.id).filter(of_account),
                func.max(LoginFailure.failed_at).filter(of_account),
                func.count(LoginFailure.id),
                func.max(LoginFailure.failed_at),
            ).where(LoginFailure.remote_addr == remote_addr, LoginFailure.failed_at > since)
        ).one()
    )


def _seconds_left(count: int, last: datetime | None, allowed: int) -> int:
    """Return the wait after `count` failures, the last at `last`, when `allowed` are free."""
    if count < allowed or last is None:
        return 0
    if last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    wait = min(2 ** (count - allowed), current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    remaining = (last + timedelta(seconds=wait) - utcnow()).total_seconds()
    return max(0, int(remaining + 0.999))


def seconds_until_next_attempt(email: str, remote_addr: str) -> int:
    """Return how long a sign-in to `email` from `remote_addr` must wait (0: none); log a refusal.

    Failures are counted from this address only: those of this account against
    LOGIN_FAILURES_ALLOWED, all of them against the larger LOGIN_FAILURES_ALLOWED_PER_ADDRESS.
    Past a budget each further failure doubles the wait, up to the window. Whoever guesses slows
    down their own address: the owner signing in from another one never waits for them.
    """
    email = normalize_email(email)
    failures = _failures(email, remote_addr)
    config = current_app.config
    wait = max(
        _seconds_left(failures.of_account, failures.last_of_account, config["LOGIN_FAILURES_ALLOWED"]),
        _seconds_left(
            failures.of_address, failures.last_of_address, config["LOGIN_FAILURES_ALLOWED_PER_ADDRESS"]
        ),
    )
    if wait:
        current_app.logger.warning(
            "Sign-in to %s from %s refused for %d s: %s",
            _account_name(email), remote_addr, wait, _describe(failures),
        )
    return wait


def record_failure(email: str, remote_addr: str) -> None:
    """Remember a failed sign-in, forget those older than the window; log one beyond a budget.

    The failure that crosses a budget also goes into the audit log, without an actor.
    """
    now = utcnow()
    email = normalize_email(email)[:254]
    remote_addr = remote_addr[:64]
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.failed_at < now - timedelta(seconds=window))
    )
    db.session.add(LoginFailure(email=email, remote_addr=remote_addr, failed_at=now))
    db.session.commit()
    failures = _failures(email, remote_addr)
    allowed = current_app.config["LOGIN_FAILURES_ALLOWED"]
    allowed_per_address = current_app.config["LOGIN_FAILURES_ALLOWED_PER_ADDRESS"]
    if failures.of_account > allowed or failures.of_address > allowed_per_address:
        account = _account_name(email)
        current_app.logger.warning(
            "Failed sign-in to %s from %s beyond the throttle's budget: %s",
            account, remote_addr, _describe(failures),
        )
        # The audit log gets the failure that crosses a budget, not every one after it: a count
        # passes budget + 1 again only after it fell back within the budget as the window moved.
        window = _window_in_words()
        if failures.of_account == allowed + 1:
            audit.record(
                None, SIGN_IN, account,
                f"{failures.of_account} failed sign-ins from {remote_addr} in {window}; "
                "further attempts are slowed down",
            )
        if failures.of_address == allowed_per_address + 1:
            audit.record(
                None, SIGN_IN, account,
                f"{failures.of_address} failed sign-ins to any account from {remote_addr} in "
                f"{window}; further attempts from this address are slowed down",
            )
        db.session.commit()


def _account_name(email: str) -> str:
    # Only the address of an existing account is logged: what was typed may be a password.
    known = db.session.execute(select(User.id).where(User.email == email)).first()
    return email if known else "an unknown account"


def _window_in_words() -> str:
    seconds = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    count, unit = (seconds // 60, "minute") if seconds % 60 == 0 else (seconds, "second")
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _describe(failures: _Failures) -> str:
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    return (
        f"{failures.of_account} failures of this account from this address and "
        f"{failures.of_address} from this address in all, in the last {window} s"
    )


def clear_failures(email: str, remote_addr: str) -> None:
    """Forget the failed sign-ins of an account from the address its password was given right from."""
    db.session.execute(
        delete(LoginFailure).where(
            LoginFailure.email == normalize_email(email), LoginFailure.remote_addr == remote_addr
        )
    )
    db.session.commit()
