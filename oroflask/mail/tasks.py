"""Mail in the worker: read and flag changes written back to the server, and the search index filled.

A write-back holds the mailbox's sync lock, so no sync pass reads the server's flags while it
stores them. A pass that read them before a change was written may set the old flags locally;
the write-back then applies the change again, after storing it on the server, so the next pass
and this database agree with what the user chose.

A change is never dropped because the server could not be reached (network, sign-in, a mailbox
not connected for a while): it stays pending, and every minute the changes whose back-off has run
out (30 s, doubling up to 15 minutes) are tried again. It goes only when written, or when the server
says its folder no longer exists: the next sync then removes the message here as well.
"""

import re
from datetime import timedelta

from flask import current_app
from huey import crontab
from huey.exceptions import TaskLockedException
from sqlalchemy import or_, select

from ..connection import tokens
from ..database import utcnow
from ..extensions import db
from ..failures import EXPLAINED, explain
from ..mailboxes.models import Mailbox
from ..mailboxes.service import open_imap
from ..mailservers import MailServerError
from ..mailstore import search, store
from ..mailstore.models import MailFolder, Message
from ..worker import periodic_task, queue_of, task
from .models import FlagChange


# A failed write-back is tried again after 30 s, 1, 2, 4, 8 minutes, then every 15 minutes.
RETRY_FIRST_SECONDS = 30
RETRY_CAP_SECONDS = 15 * 60
# A SELECT refused for a folder that is not there: RFC 5530's codes, Dovecot's and Exchange's words.
FOLDER_GONE = re.compile(
    r"\[(NONEXISTENT|TRYCREATE)\]|doesn't exist|does not exist|could not be found|not found", re.IGNORECASE
)


@task()
def write_flags(mailbox_id: int) -> None:
    """Store the mailbox's pending read and flag changes on its server, folder by folder.

    A failure is not retried by the queue: the changes wait out their back-off, then
    `write_pending_flags` queues them again.
    """
    lock = queue_of(current_app._get_current_object()).huey.lock_task(f"sync-mailbox-{mailbox_id}")
    try:
        lock.acquire()
    except TaskLockedException:
        # A sync pass of the mailbox is running: next minute's write_pending_flags comes back.
        return
    try:
        _write_holding_lock(mailbox_id)
    except EXPLAINED as error:
        db.session.rollback()
        wait = _put_off(mailbox_id)
        current_app.logger.warning(
            "Writing flags back to mailbox %s: %s; kept, tried again in %d s",
            mailbox_id, explain(error).summary, wait,
        )
    finally:
        lock.release()


@periodic_task(crontab(minute="*"))
def write_pending_flags() -> None:
    """Queue the write-back of every connected mailbox with a pending change whose back-off has run out."""
    due = db.session.execute(
        select(FlagChange.mailbox_id)
        .join(Mailbox, Mailbox.id == FlagChange.mailbox_id)
        .where(
            Mailbox.grant_id.is_not(None),
            or_(FlagChange.next_try_at.is_(None), FlagChange.next_try_at <= utcnow()),
        )
        .distinct()
        .order_by(FlagChange.mailbox_id)
    ).scalars().all()
    for mailbox_id in due:
        write_flags.enqueue(mailbox_id)


@periodic_task(crontab(minute="*"))
def index_new_mail() -> None:
    """Add the messages synced since the last run to the search index."""
    indexed = search.index_pending()
    if indexed:
        current_app.logger.info("Search index: %d messages added", indexed)


def _write_holding_lock(mailbox_id: int) -> None:
    mailbox = db.session.get(Mailbox, mailbox_id)
    rows = db.session.execute(
        select(FlagChange, Message, MailFolder.name)
        .join(Message, Message.id == FlagChange.message_id)
        .join(MailFolder, MailFolder.id == Message.folder_id)
        .where(FlagChange.mailbox_id == mailbox_id)
    ).all()
    if mailbox is None or not rows or mailbox.grant_id is None:
        # Not connected: the changes wait for the mailbox to be connected again.
        return
    written = {(change.message_id, change.flag): change.changed_at for change, _, _ in rows}
    by_folder: dict[str, dict[tuple[str, bool], list[int]]] = {}
    for change, message, folder_name in rows:
        by_folder.setdefault(folder_name, {}).setdefault((change.flag, change.value), []).append(message.uid)
    with open_imap(mailbox.address, tokens.access_token(mailbox.grant_id)) as session:
        for folder_name, changes in by_folder.items():
            try:
                session.select(folder_name, readonly=False)
            except MailServerError as error:
                if not _folder_gone(error):
                    raise
                _forget_folder(mailbox, folder_name, written)
                continue
            for (flag, value), uids in changes.items():
                session.store_flags(uids, add=(flag,) if value else (), remove=() if value else (flag,))
    # Read again: a sync pass may have changed the flags, the user may have changed their mind.
    db.session.expire_all()
    _apply_again(mailbox_id, written)
    db.session.commit()


def _folder_gone(error: MailServerError) -> bool:
    """Tell whether the server refused to open a folder because it does not exist."""
    return error.kind == "imap_refused" and bool(FOLDER_GONE.search(error.server_said or ""))


def _forget_folder(mailbox: Mailbox, folder_name: str, written: dict[tuple[int, str], object]) -> None:
    """Drop the changes of a folder the server no longer has: the next sync follows the server."""
    gone = db.session.execute(
        select(FlagChange)
        .join(Message, Message.id == FlagChange.message_id)
        .join(MailFolder, MailFolder.id == Message.folder_id)
        .where(FlagChange.mailbox_id == mailbox.id, MailFolder.name == folder_name)
    ).scalars().all()
    for change in gone:
        written.pop((change.message_id, change.flag), None)
        db.session.delete(change)
    db.session.commit()
    current_app.logger.warning(
        "Writing flags back to mailbox %s: the folder %s no longer exists on the server; "
        "%d read or flag changes dropped, the next sync follows the server",
        mailbox.id, folder_name, len(gone),
    )


def _put_off(mailbox_id: int) -> int:
    """Count a failed write-back on the mailbox's changes and set when they are tried again; return the seconds."""
    changes = db.session.execute(select(FlagChange).where(FlagChange.mailbox_id == mailbox_id)).scalars().all()
    attempts = 1 + max((change.attempts for change in changes), default=0)
    wait = min(RETRY_FIRST_SECONDS * 2 ** (attempts - 1), RETRY_CAP_SECONDS)
    now = utcnow()
    for change in changes:
        change.attempts, change.next_try_at = attempts, now + timedelta(seconds=wait)
    db.session.commit()
    return wait


def _apply_again(mailbox_id: int, written: dict[tuple[int, str], object]) -> None:
    """Set the written changes locally once more (a sync may have read the old flags) and forget them.

    A change made while the server was written (a later time) stays pending for the next run.
    """
    rows = db.session.execute(
        select(FlagChange, Message)
        .join(Message, Message.id == FlagChange.message_id)
        .where(FlagChange.mailbox_id == mailbox_id)
    ).all()
    by_folder: dict[int, dict[int, set[str]]] = {}
    done = []
    for change, message in rows:
        if written.get((change.message_id, change.flag)) != change.changed_at:
            continue
        flags = by_folder.setdefault(message.folder_id, {}).setdefault(message.uid, set(message.flags.split()))
        if change.value:
            flags.add(change.flag)
        else:
            flags.discard(change.flag)
        done.append(change)
    for folder_id, flags in by_folder.items():
        store.set_flags(db.session.get(MailFolder, folder_id), flags)
    for change in done:
        db.session.delete(change)
