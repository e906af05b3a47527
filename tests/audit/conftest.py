"""What the audit log tests share: events written straight into the log, and the page read back."""

from datetime import datetime, timezone
from html.parser import HTMLParser

from oroflask.audit.models import AuditEvent
from oroflask.extensions import db

PAGE = "/admin/audit"
HTMX = {"HX-Request": "true", "HX-Current-URL": f"http://localhost{PAGE}"}


def add_events(app, count: int, *, at: datetime | None = None, actor_email: str = "", area: str = "settings",
               subject: str = "tenant", change: str | None = None) -> list[int]:
    """Write `count` events into the log, as the features record them; return their ids, oldest first."""
    with app.app_context():
        events = [
            AuditEvent(
                at=at or datetime.now(timezone.utc),
                actor_email=actor_email,
                area=area,
                subject=subject,
                change=change or f"change {number}",
            )
            for number in range(count)
        ]
        db.session.add_all(events)
        db.session.commit()
        return [event.id for event in events]


class _Log(HTMLParser):
    """The rows of the log's table (`event-ID`), each as its cells' text, and its Show older link."""

    def __init__(self):
        super().__init__()
        self.rows: list[tuple[int, list[str]]] = []
        self.older: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "tr" and (attributes.get("id") or "").startswith("event-"):
            self.rows.append((int(attributes["id"].removeprefix("event-")), []))
        elif tag == "td" and self.rows:
            self._cell = []
        elif tag == "a" and attributes.get("hx-get") and attributes.get("hx-target") == "closest tr":
            self.older = attributes["href"]

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_log(html: str) -> tuple[list[tuple[int, list[str]]], str | None]:
    """Return the rows the page shows (id, [when, who, area, what, change]) and Show older's URL."""
    parser = _Log()
    parser.feed(html)
    return parser.rows, parser.older


def shown_ids(html: str) -> list[int]:
    return [event_id for event_id, _cells in read_log(html)[0]]
