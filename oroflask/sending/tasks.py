"""Delivery of the outbox by the worker: one task per message, put back on the queue's schedule
while the mailbox is over its rate limit or after a temporary refusal."""

from flask import current_app

from ..worker import queue_of, task
from . import service


@task()
def send_outgoing(outgoing_id: int) -> None:
    """Send one message of the outbox; a message already sent or failed is left as it is."""
    delay = service.deliver(outgoing_id)
    if delay is not None:
        wrapper = queue_of(current_app._get_current_object()).wrappers[send_outgoing.name]
        wrapper.schedule(args=(outgoing_id,), delay=delay)
