"""Views of a mailbox's sync: its health panel (a page of its own without JavaScript) and Sync now."""

from flask import abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..auth.forms import EmptyForm
from ..database import ID_MAX
from ..htmx import is_htmx_request, redirect_to
from ..mailboxes.models import PERSONAL
from . import bp, health

SYNC = f"/mailboxes/<int(max={ID_MAX}):mailbox_id>/sync"


@bp.app_context_processor
def health_of_mailboxes() -> dict:
    """Let the mailbox pages include a mailbox's health panel: `sync_health(mailbox_id)`, and
    lists the health of many: `sync_health_of(mailbox_ids)`, by id."""
    return {"sync_health": health.health, "sync_health_of": health.health_of}


@bp.route(SYNC)
@login_required
def show(mailbox_id: int):
    """Show the mailbox's sync health: for htmx the panel (which polls itself while a pass runs), else a page."""
    mailbox = _get_or_404(mailbox_id)
    context = {"health": health.health(mailbox.id), "mailbox_page": _mailbox_page(mailbox)}
    template = "sync/_health.html" if is_htmx_request() else "sync/health.html"
    return render_template(template, **context), 200, {"Cache-Control": "no-store", "Vary": "HX-Request"}


@bp.route(SYNC + "/now", methods=["POST"])
@login_required
def now(mailbox_id: int):
    """Queue a sync pass for the worker and answer at once: htmx gets the panel that follows it."""
    mailbox = _get_or_404(mailbox_id)
    page = url_for("sync.show", mailbox_id=mailbox.id)
    if not EmptyForm().validate_on_submit():
        return redirect_to(page)
    health.sync_now(mailbox.id)
    if is_htmx_request():
        return show(mailbox.id)
    return redirect(page, 303)


def _get_or_404(mailbox_id: int):
    mailbox = health.manageable_mailbox(current_user, mailbox_id)
    if mailbox is None:
        abort(404)
    return mailbox


def _mailbox_page(mailbox) -> str:
    if mailbox.kind == PERSONAL:
        return url_for("mailboxes.show")
    return url_for("mailboxes.system_show", mailbox_id=mailbox.id)
