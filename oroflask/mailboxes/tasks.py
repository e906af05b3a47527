"""Check connection of a mailbox, run by the worker rather than in the request that asked for it."""

from ..extensions import db
from ..worker import task
from . import service
from .models import Mailbox


@task()
def check_mailbox(mailbox_id: int) -> None:
    """Sign in to the mailbox over IMAP and SMTP and store each result; a mailbox removed since is skipped."""
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is not None:
        service.check(mailbox)


def queue_check(mailbox: Mailbox) -> None:
    """Mark the mailbox's check as waiting and put it on the worker's queue."""
    service.mark_check_queued(mailbox)
    check_mailbox.enqueue(mailbox.id)
