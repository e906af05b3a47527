"""Views of System > Audit log."""

from flask import render_template, request, url_for

from ..auth.access import admin_required
from ..htmx import is_htmx_request
from . import bp, service
from .forms import AuditFilterForm

# Ids are positive 32-bit integers on every database; anything else asks for no page at all.
LARGEST_ID = 2**31 - 1


@bp.route("/admin/audit")
@admin_required
def log():
    """Show the audit log, newest first, a page at a time, narrowed by the filters.

    htmx asks the same URL for the filtered log (a filter changed) or for the rows after the
    last one shown (Show older, with `before`).
    """
    form = AuditFilterForm(request.args, accounts=service.actor_emails())
    before = _before()
    valid = form.validate()
    page = service.events(form.filters(), before) if valid else service.Page([], None)
    context = {
        "form": form,
        "valid": valid,
        "before": before,
        "entries": service.entries(page.events),
        "older_url": url_for("audit.log", **form.query(), before=page.older_than) if page.older_than else None,
        "newest_url": url_for("audit.log", **form.query()),
    }
    if not is_htmx_request():
        template = "audit/log.html"
    elif before is None:
        template = "audit/_log.html"
    else:
        template = "audit/_rows.html"
    headers = {"Vary": "HX-Request", "Cache-Control": "no-store"}
    return render_template(template, **context), 200 if valid else 422, headers


def _before() -> int | None:
    """Return the id the page starts below (`before`), or None for the newest events."""
    before = request.args.get("before", type=int)
    if before is None or not 0 < before <= LARGEST_ID:
        return None
    return before
