"""Recording changes; the caller commits them with the change they describe."""

from typing import Protocol

from ..extensions import db
from .models import AREAS, AuditEvent


class Actor(Protocol):
    id: int
    email: str


def record(actor: Actor | None, area: str, subject: str, change: str) -> AuditEvent:
    """Add a change to the audit log, in the transaction of the change itself.

    `actor` is who made it (None: nobody signed in); `subject` what it concerns (a setting's
    name, an account's e-mail); `change` what happened, never a secret's value.
    """
    if area not in AREAS:
        raise ValueError(f"unknown audit area {area!r}")
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else "",
        area=area,
        subject=subject[:254],
        change=change[:300],
    )
    db.session.add(event)
    return event
