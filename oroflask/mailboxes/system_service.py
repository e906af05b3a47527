"""System mailboxes without HTTP: shared and team mailboxes that admins add, connect (as the
mailbox's own account or as a delegate with Full Access), rename, give readers and remove; and
which mailboxes a user may read.

Readers: a system mailbox is read by the users and the roles listed for it, and by no one else.
Admins manage every system mailbox, but read only those they are listed for; a new mailbox lists
the admin role, which an admin may take off.
"""

import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Select, delete, or_, select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..audit.models import CONNECTION, SETTINGS
from ..auth.access import SignedInUser
from ..auth.models import ROLES, User
from ..auth.service import email_problem, normalize_email
from ..connection import service as connection_service
from ..connection.models import FAILED, MAILBOX, SUCCEEDED, AuthorizationAttempt, MicrosoftGrant
from ..database import utcnow
from ..extensions import db
from ..microsoft import identity
from . import tasks
from .models import PERSONAL, SYSTEM, Mailbox, MailboxReader
from .service import MailboxView, own_grant, subject, view_of

# What a sign-in for a system mailbox is for (an authorization attempt's purpose); its grant is a
# mailbox's own grant like any other.
SYSTEM_MAILBOX = "system_mailbox"
LABEL_LENGTH = 100
ROLE_NAMES = {"admin": "Administrators", "user": "Users"}
# Readers of a mailbox just added.
DEFAULT_READER_ROLES = ("admin",)


class MailboxError(ValueError):
    """A system mailbox could not be added or changed; the message says why, beside `field`."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Readers:
    """Who may read a system mailbox: chosen users (id and e-mail) and roles."""

    users: tuple[tuple[int, str], ...]
    roles: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """Name the readers as the list shows them: the roles first, then the users' e-mails."""
        return [ROLE_NAMES[role] for role in self.roles] + [email for _, email in self.users]


@dataclass(frozen=True)
class SystemMailboxRow:
    """One row of System mailboxes."""

    view: MailboxView
    readers: Readers


def listed() -> list[SystemMailboxRow]:
    """Return every system mailbox with its state and readers, by label, in three queries."""
    mailboxes = db.session.execute(
        select(Mailbox).where(Mailbox.kind == SYSTEM).order_by(Mailbox.label, Mailbox.address)
    ).scalars().all()
    grants = {
        grant.id: grant
        for grant in db.session.execute(
            select(MicrosoftGrant).join(Mailbox, Mailbox.grant_id == MicrosoftGrant.id).where(Mailbox.kind == SYSTEM)
        ).scalars()
    }
    by_mailbox = readers_of([mailbox.id for mailbox in mailboxes])
    return [
        SystemMailboxRow(view_of(mailbox, grants.get(mailbox.grant_id)), by_mailbox[mailbox.id])
        for mailbox in mailboxes
    ]


def get(mailbox_id: int) -> Mailbox | None:
    """Return the system mailbox with this id, or None (also for a personal mailbox's id)."""
    mailbox = db.session.get(Mailbox, mailbox_id)
    return mailbox if mailbox is not None and mailbox.kind == SYSTEM else None


def label_problem(label: str) -> str | None:
    """Say what is wrong with a mailbox's label, if anything."""
    label = label.strip()
    if not label:
        return "Enter a label, such as Sales or Support."
    if len(label) > LABEL_LENGTH:
        return f"Use at most {LABEL_LENGTH} characters."
    return None


def add(actor: SignedInUser, label: str, address: str) -> Mailbox:
    """Add a system mailbox, not connected yet, read by the admin role; raise MailboxError."""
    address = normalize_email(address)
    problem = email_problem(address)
    if problem:
        raise MailboxError("address", problem)
    problem = label_problem(label)
    if problem:
        raise MailboxError("label", problem)
    if _address_taken(address):
        raise MailboxError("address", f"{address} is already a system mailbox.")
    mailbox = Mailbox(kind=SYSTEM, address=address, label=label.strip())
    db.session.add(mailbox)
    try:
        db.session.flush()
    except IntegrityError:  # added by another admin since the check above
        db.session.rollback()
        raise MailboxError("address", f"{address} is already a system mailbox.") from None
    for role in DEFAULT_READER_ROLES:
        db.session.add(MailboxReader(mailbox_id=mailbox.id, role=role))
    audit.record(actor, SETTINGS, subject(mailbox), f"added as {mailbox.label!r}, read by administrators")
    db.session.commit()
    return mailbox


def rename(actor: SignedInUser, mailbox: Mailbox, label: str) -> bool:
    """Change the mailbox's label; False when it is the same. Raise MailboxError."""
    problem = label_problem(label)
    if problem:
        raise MailboxError("label", problem)
    label = label.strip()
    if label == mailbox.label:
        return False
    audit.record(actor, SETTINGS, subject(mailbox), f"label changed from {mailbox.label!r} to {label!r}")
    mailbox.label = label
    db.session.commit()
    return True


def readers(mailbox: Mailbox) -> Readers:
    """Return who may read the mailbox."""
    return readers_of([mailbox.id])[mailbox.id]


def readers_of(mailbox_ids: list[int]) -> dict[int, Readers]:
    """Return who may read each of the mailboxes, by id, in one query."""
    rows = db.session.execute(
        select(MailboxReader.mailbox_id, MailboxReader.role, User.id, User.email)
        .outerjoin(User, User.id == MailboxReader.user_id)
        .where(MailboxReader.mailbox_id.in_(mailbox_ids))
        .order_by(MailboxReader.role, User.email)
    ).all()
    users = {mailbox_id: [] for mailbox_id in mailbox_ids}
    roles = {mailbox_id: [] for mailbox_id in mailbox_ids}
    for mailbox_id, role, user_id, email in rows:
        if user_id is not None:
            users[mailbox_id].append((user_id, email))
        if role is not None:
            roles[mailbox_id].append(role)
    return {mailbox_id: Readers(tuple(users[mailbox_id]), tuple(roles[mailbox_id])) for mailbox_id in mailbox_ids}


def active_accounts(user_ids: list[int]) -> list[tuple[int, str]]:
    """Return those of the accounts that are active, as (id, e-mail), by e-mail."""
    rows = db.session.execute(
        select(User.id, User.email).where(User.id.in_(set(user_ids)), User.active).order_by(User.email)
    )
    return [(user_id, email) for user_id, email in rows]


def accounts_named(emails: str) -> list[int]:
    """Return the ids of the active accounts whose e-mails are listed (separated by commas, semicolons
    or spaces); raise MailboxError naming those that are not one."""
    wanted = {normalize_email(email) for email in re.split(r"[\s,;]+", emails) if email.strip()}
    if not wanted:
        return []
    found = dict(
        db.session.execute(select(User.email, User.id).where(User.email.in_(wanted), User.active)).all()
    )
    unknown = sorted(wanted - set(found))
    if unknown:
        raise MailboxError("add_users", f"No active account has the e-mail {', '.join(unknown)}.")
    return list(found.values())


def set_readers(actor: SignedInUser, mailbox: Mailbox, user_ids: list[int], roles: list[str]) -> list[str]:
    """Let exactly these users and roles read the mailbox; return what changed. Raise MailboxError."""
    unknown_roles = set(roles) - set(ROLES)
    if unknown_roles:
        raise MailboxError("roles", "Choose roles from the list.")
    known = set(
        db.session.execute(select(User.id).where(User.id.in_(set(user_ids)), User.active)).scalars()
    )
    if set(user_ids) - known:
        raise MailboxError("users", "Choose active accounts from the list.")
    before = readers(mailbox)
    wanted_users, wanted_roles = set(user_ids), set(roles)
    had_users, had_roles = {user_id for user_id, _ in before.users}, set(before.roles)
    emails = dict(before.users) | {
        user_id: email
        for user_id, email in db.session.execute(select(User.id, User.email).where(User.id.in_(wanted_users)))
    }
    changes = [f"{ROLE_NAMES[role]} may read it" for role in sorted(wanted_roles - had_roles)]
    changes += [f"{ROLE_NAMES[role]} may no longer read it" for role in sorted(had_roles - wanted_roles)]
    changes += [f"{emails[user_id]} may read it" for user_id in sorted(wanted_users - had_users)]
    changes += [f"{emails[user_id]} may no longer read it" for user_id in sorted(had_users - wanted_users)]
    if not changes:
        return []
    db.session.execute(delete(MailboxReader).where(MailboxReader.mailbox_id == mailbox.id))
    db.session.add_all(MailboxReader(mailbox_id=mailbox.id, role=role) for role in sorted(wanted_roles))
    db.session.add_all(MailboxReader(mailbox_id=mailbox.id, user_id=user_id) for user_id in sorted(wanted_users))
    for change in changes:
        audit.record(actor, SETTINGS, subject(mailbox), change)
    db.session.commit()
    return changes


def remove(actor: SignedInUser, mailbox: Mailbox) -> None:
    """Delete the mailbox with its tokens; its readers and the mail synced from it go with its row."""
    grant = own_grant(mailbox)
    if grant is not None:
        db.session.delete(grant)
    db.session.delete(mailbox)
    audit.record(actor, SETTINGS, subject(mailbox), "removed; its tokens and the mail synced from it were deleted")
    db.session.commit()


def readable_mailboxes(user: SignedInUser) -> Select:
    """Return the SELECT of the ids of the mailboxes `user` may read: their own, and the system
    mailboxes listed for them or for their role."""
    listed_for_user = select(MailboxReader.mailbox_id).where(
        or_(MailboxReader.user_id == user.id, MailboxReader.role == user.role)
    )
    return select(Mailbox.id).where(
        or_(
            (Mailbox.kind == PERSONAL) & (Mailbox.owner_id == user.id),
            (Mailbox.kind == SYSTEM) & Mailbox.id.in_(listed_for_user),
        )
    )


def start_connect(user: SignedInUser, mailbox: Mailbox, redirect_uri: str, replace: bool) -> AuthorizationAttempt:
    """Record a sign-in for the system mailbox: a reconnect must be made with the account that
    signs in for it now, unless `replace` says that another account replaces it."""
    grant = own_grant(mailbox)
    attempt = connection_service.start(
        user,
        redirect_uri,
        purpose=SYSTEM_MAILBOX,
        grant_id=grant.id if grant else None,
        expected_account=grant.account if grant is not None and not replace else None,
    )
    mailbox.sign_in_attempt_id = attempt.id
    db.session.commit()
    return attempt


def signed_in_mailbox(user: SignedInUser) -> Mailbox | None:
    """Return the system mailbox of the newest sign-in this admin started, or None."""
    return db.session.execute(
        select(Mailbox)
        .join(AuthorizationAttempt, AuthorizationAttempt.id == Mailbox.sign_in_attempt_id)
        .where(AuthorizationAttempt.user_id == user.id, Mailbox.kind == SYSTEM)
        .order_by(AuthorizationAttempt.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def register() -> None:
    """Let the Microsoft sign-ins of system mailboxes be completed here (by admins only)."""
    connection_service.register_completion(
        SYSTEM_MAILBOX,
        _complete_sign_in,
        "mailboxes.system_signed_in",
        "System mailboxes",
        admins_only=True,
        wrong_account=_wrong_account,
    )


def _signing_in(attempt: AuthorizationAttempt) -> Mailbox | None:
    """Return the system mailbox whose newest sign-in is `attempt`, or None."""
    return db.session.execute(
        select(Mailbox).where(Mailbox.kind == SYSTEM, Mailbox.sign_in_attempt_id == attempt.id)
    ).scalar_one_or_none()


def _wrong_account(attempt: AuthorizationAttempt, account: str) -> tuple[str, str]:
    """Say that a reconnect of a system mailbox was signed in with another account than the one it
    is connected with."""
    expected = attempt.expected_account
    mailbox = _signing_in(attempt)
    address = mailbox.address if mailbox is not None else "this mailbox"
    return (
        f"You signed in as {account}, but {address} is connected with {expected}",
        f"Reconnect and sign in as {expected}; to sign in with {account} instead, use Sign in with another account.",
    )


def _complete_sign_in(user: SignedInUser, attempt: AuthorizationAttempt, granted: identity.Grant) -> None:
    """Store what the sign-in granted as the mailbox's own grant; the account that signed in is the
    mailbox's own or a delegate's."""
    mailbox = _signing_in(attempt)
    if mailbox is None:
        connection_service.finish(
            attempt,
            FAILED,
            title="This mailbox was removed, or another sign-in for it was started since",
            action="Open System mailboxes and connect the mailbox again.",
        )
        return
    grant = own_grant(mailbox) or MicrosoftGrant(purpose=MAILBOX)
    if not connection_service.store_grant(user, attempt, granted, grant):
        return
    mailbox.grant_id = grant.id
    mailbox.grant_ended_reason = None
    mailbox.connected_at = utcnow()
    how = "as the mailbox" if grant.account.casefold() == mailbox.address else f"by {grant.account}, a delegate"
    audit.record(user, CONNECTION, subject(mailbox), f"connected: signed in {how}")
    connection_service.finish(attempt, SUCCEEDED)
    # Whether the account may open the mailbox (a delegate needs Full Access) shows only over IMAP:
    # the worker checks it now, and the mailbox's page follows the check as after a click.
    try:
        tasks.queue_check(mailbox)
    except Exception:
        # The mailbox is connected all the same: its page tells that the check is overdue, and
        # Check connection queues it again.
        current_app.logger.exception("The check of %s could not be queued", subject(mailbox))


def _address_taken(address: str) -> bool:
    return (
        db.session.execute(select(Mailbox.id).where(Mailbox.kind == SYSTEM, Mailbox.address == address)).first()
        is not None
    )
