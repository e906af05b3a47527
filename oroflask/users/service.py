"""Accounts as administrators manage them, without HTTP: search, create, edit, reset a password.

Every change is recorded in the audit log in the transaction of the change itself; `actor` is
the administrator who made it, None for a command on the server.
"""

from dataclasses import dataclass

from sqlalchemy import func, or_, select, true
from sqlalchemy.exc import IntegrityError

from ..audit import record
from ..audit.models import ACCOUNTS
from ..auth import password_links, sessions
from ..auth.access import SignedInUser
from ..auth.models import ROLES, User
from ..auth.service import AccountError, email_problem, normalize_email, password_problem
from ..extensions import db
from ..forms import CONTROL_CHARACTER, CONTROL_CHARACTER_MESSAGE
from ..mailboxes import service as mailboxes
from ..settings.service import public_address

PAGE_SIZE = 50
NAME_LENGTH = 120
ROLE_NAMES = {"admin": "Administrator", "user": "User"}
LAST_ADMIN = (
    "{email} is the only active administrator. Make another account an administrator first, "
    "so that someone can still manage oroflask."
)
COMMAND_LINE = " (command line)"


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of the accounts that match a search."""

    users: list[User]
    total: int
    number: int
    pages: int


def _like_pattern(text: str) -> str:
    """Return a LIKE pattern that finds `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(query: str, number: int) -> UserPage:
    """Return page `number` (from 1) of the accounts whose e-mail or name holds `query`, any case."""
    condition = true()
    query = query.strip()
    if query:
        pattern = _like_pattern(query.lower())
        condition = or_(
            func.lower(User.email).like(pattern, escape="\\"),
            func.lower(User.name).like(pattern, escape="\\"),
        )
    total = db.session.execute(select(func.count(User.id)).where(condition)).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(number, 1), pages)
    users = db.session.execute(
        select(User).where(condition).order_by(User.email).limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)
    ).scalars()
    return UserPage(list(users), total, number, pages)


def get(user_id: int) -> User | None:
    """Return the account with this id, or None."""
    return db.session.get(User, user_id)


def link_url(token: str, request_root: str | None) -> str | None:
    """Return the absolute address of a one-time link; None when no public address is known.

    `request_root` is the scheme://host of the request (None for a command, which has none): it
    counts only while no address is configured or pinned, as for the Redirect URI.
    """
    address = public_address(request_root or "").url
    return f"{address}{password_links.LINK_PATH}{token}" if address else None


def link_path(token: str) -> str:
    """Return the path of a one-time link, for when no public address is known."""
    return password_links.LINK_PATH + token


def name_problem(name: str) -> str | None:
    """Say what is wrong with a person's name, if anything (the forms check it as they read it)."""
    if len(name.strip()) > NAME_LENGTH:
        return f"Use at most {NAME_LENGTH} characters."
    if CONTROL_CHARACTER.search(name.strip()):
        return CONTROL_CHARACTER_MESSAGE
    return None


def _audit(actor: SignedInUser | None, user: User, change: str) -> None:
    record(actor, ACCOUNTS, user.email, change + ("" if actor else COMMAND_LINE))


def create(
    actor: SignedInUser | None, email: str, name: str, role: str, password: str | None
) -> tuple[User, str | None]:
    """Create an account with `password`, or without one and with a one-time link.

    Return the account and the link's token (None with a password). Raise AccountError naming
    the field at fault.
    """
    email = normalize_email(email)
    problem = email_problem(email)
    if problem:
        raise AccountError("email", problem)
    problem = name_problem(name)
    if problem:
        raise AccountError("name", problem)
    if role not in ROLES:
        raise AccountError("role", f"The role must be one of: {', '.join(ROLES)}.")
    if password is not None:
        problem = password_problem(password, email)
        if problem:
            raise AccountError("password", problem)
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise AccountError("email", "An account with this e-mail address already exists.")
    user = User(email=email, name=name.strip(), role=role)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # created by someone else since the check above
        db.session.rollback()
        raise AccountError("email", "An account with this e-mail address already exists.") from None
    token = password_links.make_link(user) if password is None else None
    how = "a one-time link" if password is None else "a password"
    _audit(actor, user, f"created ({ROLE_NAMES[role].lower()}, with {how})")
    db.session.commit()
    return user, token


def _lock_active_admins() -> list[int]:
    """Return the ids of the active administrators, their rows locked until the commit.

    On PostgreSQL two administrators demoting each other at once then take turns, and the
    second sees the first's change; SQLite has one writer at a time anyway.
    """
    return list(
        db.session.execute(
            select(User.id).where(User.role == "admin", User.active).order_by(User.id).with_for_update()
        ).scalars()
    )


def update(actor: SignedInUser | None, user: User, name: str, role: str, active: bool) -> list[str]:
    """Change an account's name, role and whether it is active; return what changed.

    Deactivating ends the account's sessions, deletes its one-time links and ends the mailbox
    grants it made (its own mailbox's, and those of system mailboxes it connected). Raise AccountError
    (field "role" or "active") for a change to one's own account, or one that would leave no
    active administrator.
    """
    if role not in ROLES:
        raise AccountError("role", f"The role must be one of: {', '.join(ROLES)}.")
    problem = name_problem(name)
    if problem:
        raise AccountError("name", problem)
    demoted = user.role == "admin" and role != "admin"
    deactivated = user.active and not active
    field = "role" if demoted else "active"
    if (demoted or deactivated) and user.active and _lock_active_admins() == [user.id]:
        db.session.rollback()
        raise AccountError(field, LAST_ADMIN.format(email=user.email))
    if (demoted or deactivated) and actor is not None and actor.id == user.id:
        db.session.rollback()
        raise AccountError(
            field,
            "You cannot take the administrator role from your own account here; another administrator can."
            if demoted
            else "You cannot deactivate your own account here; another administrator can.",
        )
    changes = []
    name = name.strip()
    if name != user.name:
        changes.append(f"name changed from {user.name!r} to {name!r}" if user.name else f"name set to {name!r}")
        user.name = name
    if role != user.role:
        changes.append(f"role changed from {ROLE_NAMES[user.role]} to {ROLE_NAMES[role]}")
        user.role = role
    if deactivated:
        ended = sessions.end_all_sessions(user.id)
        password_links.forget_links(user.id)
        mailboxes.end_grants_of(actor, user.id, user.email)
        user.active = False
        changes.append(f"deactivated ({ended} session{'' if ended == 1 else 's'} ended)")
    elif active and not user.active:
        user.active = True
        changes.append("reactivated")
    for change in changes:
        _audit(actor, user, change)
    db.session.commit()
    return changes


def reset_password(actor: SignedInUser | None, user: User) -> str:
    """Make a new one-time link for an account and return its token.

    The old password stops working at once and the account's sessions end. Raise AccountError
    for one's own account, whose password is changed on My account, and for a deactivated one.
    """
    if actor is not None and actor.id == user.id:
        raise AccountError("password", "Change your own password on My account.")
    if not user.active:
        raise AccountError("active", f"{user.email} is deactivated: reactivate it first.")
    user.set_unusable_password()
    ended = sessions.end_all_sessions(user.id)
    token = password_links.make_link(user)
    _audit(actor, user, f"password reset (link made, {ended} session{'' if ended == 1 else 's'} ended)")
    db.session.commit()
    return token


def account_by_email(email: str) -> User | None:
    """Return the account with this e-mail (any case, spaces trimmed), or None."""
    return db.session.execute(select(User).where(User.email == normalize_email(email))).scalar_one_or_none()
