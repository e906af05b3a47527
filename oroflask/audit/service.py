"""Recording changes, and reading them back a page at a time; the caller commits what it records."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple, Protocol

from sqlalchemy import func, select

from ..extensions import db
from .models import AREAS, AuditEvent

PAGE_SIZE = 50
COUNT_UP_TO = 10_000
# How the log page names the subjects of an area, for the areas that record keys (a setting is
# recorded as `client_id` and shown by its label); each area registers its own.
_subject_names: dict[str, Callable[[str], str]] = {}


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


@dataclass(frozen=True)
class Filters:
    """What the log is narrowed to; None lets anything through.

    `actor_email` "" keeps what nobody signed in did; `since` and `until` are UTC days, both
    included.
    """

    actor_email: str | None = None
    area: str | None = None
    since: date | None = None
    until: date | None = None


class Page(NamedTuple):
    """Events, newest first, and the id to ask for the older ones with (None: there are none)."""

    events: list[AuditEvent]
    older_than: int | None


def events(filters: Filters, before: int | None = None, size: int = PAGE_SIZE) -> Page:
    """Return the `size` newest events that match `filters`, of those older than the id `before`.

    Paging goes by id, not by offset: events recorded while someone pages through are newer
    than every page already shown, so no row repeats and none is skipped.
    """
    query = select(AuditEvent).where(*_conditions(filters)).order_by(AuditEvent.id.desc())
    if before is not None:
        query = query.where(AuditEvent.id < before)
    found = list(db.session.execute(query.limit(size + 1)).scalars())
    shown = found[:size]
    return Page(shown, shown[-1].id if len(found) > size else None)


def count(filters: Filters, up_to: int) -> int:
    """Return how many events match `filters`, counting no further than `up_to` + 1.

    The bound keeps the count cheap however long the log grows: past it, the page says "more than".
    """
    matching = select(AuditEvent.id).where(*_conditions(filters)).limit(up_to + 1).subquery()
    return db.session.execute(select(func.count()).select_from(matching)).scalar_one()


def _conditions(filters: Filters) -> list:
    conditions = []
    if filters.actor_email is not None:
        conditions.append(AuditEvent.actor_email == filters.actor_email)
    if filters.area is not None:
        conditions.append(AuditEvent.area == filters.area)
    if filters.since is not None:
        conditions.append(AuditEvent.at >= _start_of(filters.since))
    if filters.until is not None and filters.until < date.max:
        conditions.append(AuditEvent.at < _start_of(filters.until + timedelta(days=1)))
    return conditions


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def actor_emails() -> list[str]:
    """Return the e-mails of everyone who appears in the log as having made a change, sorted."""
    query = select(AuditEvent.actor_email).where(AuditEvent.actor_email != "").distinct()
    return sorted(db.session.execute(query).scalars())


class Entry(NamedTuple):
    """An event as the log page shows it."""

    id: int
    at: datetime
    who: str | None
    area: str
    subject: str
    change: str


def name_subjects(area: str, name: Callable[[str], str]) -> None:
    """Have the log page show each subject of `area` as `name(subject)`."""
    _subject_names[area] = name


def entries(events: Iterable[AuditEvent]) -> list[Entry]:
    """Return `events` in words: the area's name, and the subject as its area names it."""
    return [
        Entry(
            event.id,
            event.at,
            event.actor_email or None,
            AREAS.get(event.area, event.area),
            _subject_names[event.area](event.subject) if event.area in _subject_names else event.subject,
            event.change,
        )
        for event in events
    ]
