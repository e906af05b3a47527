"""Sync from the worker: a task per mailbox, and a schedule that queues the mailboxes that are due."""

from flask import current_app
from huey import crontab
from sqlalchemy import or_, select

from ..database import utcnow
from ..extensions import db
from ..failures import EXPLAINED, explain
from ..mailboxes.models import Mailbox
from ..worker import periodic_task, task
from . import engine
from .models import MailboxSync


# Retried only for what the engine does not explain (a database that went away, say): explained
# failures are recorded in the mailbox's sync state, and the schedule comes back to it.
@task(retries=2, retry_delay=60)
def sync_mailbox(mailbox_id: int) -> None:
    """Sync one mailbox; a second one queued while it runs returns at once."""
    try:
        engine.sync_mailbox(mailbox_id)
    except EXPLAINED as error:
        current_app.logger.info("Sync of mailbox %s: %s", mailbox_id, explain(error).summary)


@periodic_task(crontab(minute="*"))
def queue_due_mailboxes() -> None:
    """Queue a sync of every mailbox with chosen folders whose next run has come (every SYNC_POLL_MINUTES)."""
    now = utcnow()
    rows = db.session.execute(
        select(Mailbox.id, Mailbox.folders)
        .outerjoin(MailboxSync, MailboxSync.mailbox_id == Mailbox.id)
        .where(
            Mailbox.grant_id.is_not(None),
            or_(MailboxSync.next_run_at.is_(None), MailboxSync.next_run_at <= now),
        )
        .order_by(Mailbox.id)
    )
    # Compared here: "no choice yet" may be stored as SQL NULL or as JSON null.
    due = [mailbox_id for mailbox_id, folders in rows if folders is not None]
    for mailbox_id in due:
        sync_mailbox.enqueue(mailbox_id)
        current_app.logger.debug("Queued the sync of mailbox %s", mailbox_id)
