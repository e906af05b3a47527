"""My account without HTTP: changing one's password, listing and ending one's sessions."""

import re
from dataclasses import dataclass
from datetime import datetime

from ..audit import record
from ..audit.models import ACCOUNTS
from ..auth import service as accounts
from ..auth import sessions
from ..auth.models import User
from ..extensions import db

# Tried in order: Edge and Opera name Chrome and Safari in their agent too, Chrome names Safari.
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(?:OPR|Opera)/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|Chromium|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
# Android and iOS before Linux and macOS, whose names their agents carry too.
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def describe_browser(user_agent: str) -> str:
    """Return a browser's agent in a reader's words, such as "Firefox on Linux"."""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "An unknown browser")


@dataclass(frozen=True, slots=True)
class SignedInBrowser:
    """One open session of an account, as its page lists it."""

    id: int
    browser: str
    user_agent: str
    remote_addr: str
    signed_in_at: datetime
    last_seen_at: datetime
    is_current: bool


def signed_in_browsers(user_id: int, current_session_id: int) -> list[SignedInBrowser]:
    """Return where an account is signed in, this browser first, then the most recently seen."""
    listed = [
        SignedInBrowser(
            id=row.id,
            browser=describe_browser(row.user_agent),
            user_agent=row.user_agent,
            remote_addr=row.remote_addr,
            signed_in_at=row.created_at,
            last_seen_at=row.last_seen_at,
            is_current=row.id == current_session_id,
        )
        for row in sessions.active_sessions(user_id)
    ]
    return sorted(listed, key=lambda browser: not browser.is_current)


def account_name(user_id: int) -> str:
    """Return the name of an account ("" when it has none)."""
    return db.session.get(User, user_id).name


def current_password_problem(user_id: int, password: str, remote_addr: str) -> str | None:
    """Say what is wrong with the current password typed for a change, if anything.

    It is throttled as a sign-in is, and a wrong one counts as a failed sign-in: a browser left
    signed in is no faster way to guess the password.
    """
    user = db.session.get(User, user_id)
    wait = accounts.seconds_until_next_attempt(user.email, remote_addr)
    if wait:
        return f"Too many wrong passwords. Wait {wait} second{'s' if wait > 1 else ''} before trying again."
    if not user.check_password(password):
        accounts.record_failure(user.email, remote_addr)
        return "This is not your current password."
    accounts.clear_failures(user.email, remote_addr)
    return None


def change_password(user_id: int, new_password: str, current_session_id: int) -> int:
    """Store a new password and end every other session of the account, in one transaction.

    Return how many other sessions ended.
    """
    user = db.session.get(User, user_id)
    user.set_password(new_password)
    ended = sessions.end_all_sessions(user_id, except_session=current_session_id)
    record(user, ACCOUNTS, user.email, "password changed")
    db.session.commit()
    return ended


def end_other_session(user_id: int, session_id: int, current_session_id: int) -> bool:
    """End one other session of the account; tell whether it was one (this browser's is not)."""
    if session_id == current_session_id:
        return False
    ended = sessions.end_session(user_id, session_id)
    db.session.commit()
    return ended


def end_other_sessions(user_id: int, current_session_id: int) -> int:
    """End every session of the account but this browser's; return how many ended."""
    ended = sessions.end_all_sessions(user_id, except_session=current_session_id)
    db.session.commit()
    return ended
