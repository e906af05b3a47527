"""Mail in the worker: read and flag changes written back to the server, and the search index filled.

A write-back holds the mailbox's sync lock, so no sync pass reads the server's flags while it
stores them. A pass that read them before a change was written may set the old flags locally;
the write-back then applies the change again, after storing it on the server, so the next pass
and this database agree with what the user chose.
"""

from flask import current_app
from huey import crontab
from huey.exceptions import TaskLockedException
from sqlalchemy import delete, select

from .. import config
from ..connection import tokens
from ..extensions import db
from ..failures import EXPLAINED, explain
from ..mailboxes.models import Mailbox
from ..mailservers import ImapSession
from ..mailstore import search, store
from ..mailstore.models import MailFolder, Message
from ..worker import periodic_task, queue_of, task
from .models import FlagChange


class SyncRunning(Exception):
    """The mailbox's sync pass holds its lock: the write-back comes back later."""


@task(retries=8, retry_delay=30)
def write_flags(mailbox_id: int) -> None:
    """Store the mailbox's pending read and flag changes on its server, folder by folder."""
    lock = queue_of(current_app._get_current_object()).huey.lock_task(f"sync-mailbox-{mailbox_id}")
    try:
        lock.acquire()
    except TaskLockedException:
        raise SyncRunning(f"mailbox {mailbox_id}") from None
    try:
        _write_holding_lock(mailbox_id)
    except EXPLAINED as error:
        db.session.rollback()
        current_app.logger.warning("Writing flags back to mailbox %s: %s", mailbox_id, explain(error).summary)
        raise
    finally:
        lock.release()


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
    if mailbox is None or not rows:
        return
    if mailbox.grant_id is None:
        # Nothing can reach the server until the mailbox is connected again; the next sync brings its flags.
        db.session.execute(delete(FlagChange).where(FlagChange.mailbox_id == mailbox_id))
        db.session.commit()
        return
    written = {(change.message_id, change.flag): change.changed_at for change, _, _ in rows}
    by_folder: dict[str, dict[tuple[str, bool], list[int]]] = {}
    for change, message, folder_name in rows:
        by_folder.setdefault(folder_name, {}).setdefault((change.flag, change.value), []).append(message.uid)
    settings = current_app.config
    with ImapSession(
        config.mail_endpoint(settings, "IMAP"),
        mailbox.address,
        tokens.access_token(mailbox.grant_id),
        ca_file=settings["MAIL_CA_FILE"] or None,
    ) as session:
        for folder_name, changes in by_folder.items():
            session.select(folder_name, readonly=False)
            for (flag, value), uids in changes.items():
                session.store_flags(uids, add=(flag,) if value else (), remove=() if value else (flag,))
    # Read again: a sync pass may have changed the flags, the user may have changed their mind.
    db.session.expire_all()
    _apply_again(mailbox_id, written)
    db.session.commit()


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
