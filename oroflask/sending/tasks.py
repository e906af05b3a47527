"""Delivery of the outbox by the worker: one task per message, put back on the queue's schedule
while the mailbox is over its rate limit or after a temporary refusal."""

from flask import current_app

from ..auth.access import SignedInUser
from ..mailboxes.models import Mailbox
from ..worker import queue_of, task
from . import service
from .models import COMPOSED, ROUND_TRIP, OutgoingMessage


@task()
def send_outgoing(outgoing_id: int) -> None:
    """Send one message of the outbox; a message already sent or failed is left as it is."""
    delay = service.deliver(outgoing_id)
    if delay is not None:
        wrapper = queue_of(current_app._get_current_object()).wrappers[send_outgoing.name]
        wrapper.schedule(args=(outgoing_id,), delay=delay)


def send(user: SignedInUser, mailbox: Mailbox, draft: service.Draft) -> OutgoingMessage:
    """Store the draft in the outbox and put its delivery on the worker's queue."""
    outgoing = service.store(user, mailbox, draft, COMPOSED)
    send_outgoing.enqueue(outgoing.id)
    return outgoing


def send_round_trip(user: SignedInUser, mailbox: Mailbox) -> OutgoingMessage:
    """Queue the mailbox's test message to itself; the task then waits for it in the Inbox."""
    outgoing = service.store(user, mailbox, service.round_trip_draft(mailbox), ROUND_TRIP)
    send_outgoing.enqueue(outgoing.id)
    return outgoing
