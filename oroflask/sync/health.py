"""A mailbox's sync health as its pages show it, who may see it, and Sync now."""

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ..auth.access import SignedInUser
from ..connection.models import MicrosoftGrant
from ..database import utcnow
from ..extensions import db
from ..failures import Explanation
from ..mailboxes.models import PERSONAL, SYSTEM, Mailbox
from ..mailstore.models import MailFolder
from . import engine, tasks
from .models import MailboxSync
from .push import inbox_of

# Sync now waits for the worker; not started after this long, the worker is likely not running.
START_OVERDUE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class FolderCount:
    """A chosen folder and the messages stored of it (None: not synced yet)."""

    name: str
    messages: int | None

    @property
    def label(self) -> str:
        """Return the folder's name as people know it: Inbox for the IMAP name INBOX."""
        return "Inbox" if inbox_of([self.name]) else self.name


@dataclass(frozen=True)
class Health:
    """What the health panel of a mailbox shows: its last syncs, the running one, push and token."""

    mailbox_id: int
    address: str
    folders_chosen: bool
    running: bool = False
    waiting: bool = False  # Sync now was clicked; the worker has not started the pass yet
    overdue: bool = False  # waiting so long that the worker is likely not running
    done: int = 0
    total: int = 0
    succeeded_at: datetime | None = None
    failed_at: datetime | None = None
    next_run_at: datetime | None = None
    error: Explanation | None = None
    reconnect_needed: bool = False
    folders: list[FolderCount] = field(default_factory=list)
    push: bool = False
    push_enabled: bool = True
    token_expires_at: datetime | None = None
    token_expired: bool = False
    token_renewable: bool = False

    @property
    def inbox_chosen(self) -> bool:
        """Tell whether the Inbox is among the chosen folders (push watches it)."""
        return inbox_of([folder.name for folder in self.folders]) is not None

    @property
    def polling(self) -> bool:
        """Tell whether the panel follows a sync (running, or asked for and not overdue)."""
        return self.running or (self.waiting and not self.overdue)


def manageable_mailbox(user: SignedInUser, mailbox_id: int) -> Mailbox | None:
    """Return the mailbox whose sync `user` may see and start: their own personal mailbox, or any
    system mailbox for an admin; None for any other (its readers read its mail, not its sync)."""
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return None
    if mailbox.kind == PERSONAL and mailbox.owner_id == user.id:
        return mailbox
    if mailbox.kind == SYSTEM and user.is_admin:
        return mailbox
    return None


def health(mailbox_id: int) -> Health:
    """Return the sync health of the mailbox."""
    return health_of([mailbox_id])[mailbox_id]


def health_of(mailbox_ids: Collection[int]) -> dict[int, Health]:
    """Return the sync health of each mailbox, by id, in at most four queries however many they are.

    Ids of mailboxes that do not exist are left out.
    """
    ids = set(mailbox_ids)
    if not ids:
        return {}
    mailboxes = db.session.execute(select(Mailbox).where(Mailbox.id.in_(ids))).scalars().all()
    states = {
        state.mailbox_id: state
        for state in db.session.execute(select(MailboxSync).where(MailboxSync.mailbox_id.in_(ids))).scalars()
    }
    counts: dict[int, dict[str, int]] = {}
    for mailbox_id, name, count in db.session.execute(
        select(MailFolder.mailbox_id, MailFolder.name, MailFolder.message_count).where(MailFolder.mailbox_id.in_(ids))
    ):
        counts.setdefault(mailbox_id, {})[name] = count
    grant_ids = {mailbox.grant_id for mailbox in mailboxes if mailbox.grant_id is not None}
    grants = {}
    if grant_ids:
        grants = {
            grant.id: grant
            for grant in db.session.execute(select(MicrosoftGrant).where(MicrosoftGrant.id.in_(grant_ids))).scalars()
        }
    now = utcnow()
    return {
        mailbox.id: _health(
            mailbox, states.get(mailbox.id), counts.get(mailbox.id, {}), grants.get(mailbox.grant_id), now
        )
        for mailbox in mailboxes
    }


def _health(
    mailbox: Mailbox, state: MailboxSync | None, counts: dict[str, int], grant: MicrosoftGrant | None, now: datetime
) -> Health:
    folders = [FolderCount(name, counts.get(name)) for name in mailbox.folders or []]
    token = {}
    if grant is not None:
        token = {
            "token_expires_at": grant.access_token_expires_at,
            "token_expired": grant.access_token_expires_at <= now,
            "token_renewable": grant.refresh_token_encrypted is not None and not grant.reconnect_reason,
        }
    common = {
        "mailbox_id": mailbox.id,
        "address": mailbox.address,
        "folders_chosen": mailbox.folders is not None,
        "folders": folders,
        "push_enabled": current_app.config["SYNC_PUSH"],
        **token,
    }
    if state is None:
        return Health(**common)
    waiting = (
        not state.running
        and state.requested_at is not None
        and (state.started_at is None or state.started_at < state.requested_at)
    )
    failed_last = state.failed_at is not None and (state.succeeded_at is None or state.failed_at > state.succeeded_at)
    error = None
    if failed_last and state.error_title:
        error = Explanation(
            state.error_title,
            state.error_action or "",
            cause=state.error_cause or "",
            code=state.error_code,
            server_said=state.error_server_said,
            reconnect=state.reconnect_needed,
        )
    return Health(
        **common,
        running=state.running,
        waiting=waiting,
        overdue=waiting and state.requested_at < now - START_OVERDUE_AFTER,
        done=state.done,
        total=state.total,
        succeeded_at=state.succeeded_at,
        failed_at=state.failed_at,
        next_run_at=state.next_run_at,
        error=error,
        reconnect_needed=state.reconnect_needed,
        push=state.push_active and state.push_lease_until is not None and state.push_lease_until > now,
    )


def sync_now(mailbox_id: int) -> None:
    """Queue a pass of the mailbox for the worker, unless one runs already (the panel follows that one)."""
    state = engine.sync_state(mailbox_id)
    alive = state.heartbeat_at is not None and state.heartbeat_at > utcnow() - engine.DEAD_LOCK_AFTER
    if state.running and alive:
        db.session.commit()
        return
    state.requested_at = utcnow()
    db.session.commit()
    tasks.sync_mailbox.enqueue(mailbox_id)
