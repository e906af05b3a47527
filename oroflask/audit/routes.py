"""Views of System > Audit log."""

from flask import render_template, request, url_for

from ..auth.access import admin_required
from ..htmx import is_htmx_request
from . import bp, service
from .forms import AuditFilterForm

# Ids are positive and fit a 32-bit column (PostgreSQL's integer); a `before` outside that range
# is no page of the log, and past 2**63 SQLite would refuse it.
LARGEST_ID = 2**31 - 1


@bp.route("/admin/audit")
@admin_required
def log():
    """Show the audit log, newest first, a page at a time, narrowed by the filters.

    htmx asks the same URL for the events and the filters' messages (a filter changed), or for
    the rows after the last one shown (Show older, with `before`).
    """
    form = AuditFilterForm(request.args, accounts=service.actor_emails())
    before = _before()
    valid = form.validate()
    page, matched = service.Page([], None), 0
    if valid:
        filters = form.filters()
        page = service.events(filters, before)
        # Counted for the first page only: Show older keeps the count already shown.
        matched = service.count(filters, service.COUNT_UP_TO) if before is None else 0
    if not is_htmx_request():
        template = "audit/log.html"
    elif before is None:
        template = "audit/_filtered.html"
    else:
        template = "audit/_rows.html"
    query = form.query()
    body = render_template(
        template,
        form=form,
        valid=valid,
        before=before,
        filtered=bool(query),
        entries=service.entries(page.events),
        matched=matched,
        count_up_to=service.COUNT_UP_TO,
        older_url=url_for("audit.log", **query, before=page.older_than) if page.older_than else None,
        newest_url=url_for("audit.log", **query),
    )
    headers = {"Vary": "HX-Request", "Cache-Control": "no-store"}
    return body, 200 if valid else 422, headers


def _before() -> int | None:
    """Return the id the page starts below (`before`), or None for the newest events."""
    before = request.args.get("before", type=int)
    if before is None or not 0 < before <= LARGEST_ID:
        return None
    return before
