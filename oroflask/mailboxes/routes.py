"""Views of My mailbox: the page, Connect (or Reconnect, or Replace), Use the connection made
with Enable, Check connection, the folders to sync and Disconnect; and what every mailbox page
shares (system_routes uses them)."""

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth.forms import EmptyForm
from ..failures import EXPLAINED, explain
from ..htmx import is_htmx_request, redirect_to
from ..settings import service as settings_service
from . import bp, service, tasks
from .forms import EVERYTHING, FROM_DATE, ConnectForm, FoldersForm
from .models import Mailbox

PAGE = "/account/mailbox"


@bp.route(PAGE)
@login_required
def show():
    """Show the user's mailbox: the gate, Connect, or the connected mailbox with its check and folders."""
    return render_page()


@bp.route(PAGE + "/connect", methods=["POST"])
@login_required
def connect():
    """Record a Microsoft sign-in for the mailbox; the browser then opens Microsoft's sign-in."""
    form = ConnectForm()
    if not form.validate() or service.gate_closed():
        return redirect_to(url_for("mailboxes.show"))
    return start_sign_in(
        lambda redirect_uri: service.start_connect(current_user, redirect_uri, replace=form.replaces),
        url_for("mailboxes.show"),
    )


def start_sign_in(start, page: str):
    """Start a mailbox's Microsoft sign-in with `start(redirect_uri)`; answer as Enable does:
    htmx opens the popup and polls, a plain POST goes to Microsoft in this window."""
    redirect_uri = settings_service.redirect_uri(request.host_url)
    try:
        attempt = start(redirect_uri)
    except EXPLAINED as error:
        problem = explain(error).sentence
        if is_htmx_request():
            return render_template("connection/_status.html", problem=problem), 422
        flash(problem, "error")
        return redirect(page)
    if not is_htmx_request():
        return redirect(url_for("connection.begin", attempt_id=attempt.id, window="same"))
    trigger = {
        "authorization-started": {
            "url": url_for("connection.begin", attempt_id=attempt.id),
            "closedUrl": url_for("connection.closed", attempt_id=attempt.id),
        }
    }
    body = render_template("connection/_status.html", attempt=attempt)
    return body, 200, {"HX-Trigger": json.dumps(trigger)}


@bp.route(PAGE + "/replace")
@login_required
def replace():
    """Ask before a sign-in with another account replaces the mailbox."""
    mailbox = service.personal_mailbox(current_user.id)
    if mailbox is None:
        return redirect(url_for("mailboxes.show"))
    return render_template("mailboxes/replace.html", mailbox=mailbox, form=ConnectForm(replace="1"))


@bp.route(PAGE + "/use-enable-connection", methods=["POST"])
@login_required
def use_site_grant():
    """Point the mailbox at the connection its owner made with Enable, without a second sign-in."""
    if not EmptyForm().validate_on_submit():
        return redirect_to(url_for("mailboxes.show"))
    mailbox = service.use_site_grant(current_user)
    if mailbox is None:
        flash("The connection made with Enable cannot be used for your mailbox.", "error")
    else:
        flash(f"Your mailbox {mailbox.address} uses the connection made with Enable.", "success")
    return redirect_to(url_for("mailboxes.show"))


@bp.route(PAGE + "/check", methods=["POST"])
@login_required
def check():
    """Queue Check connection for the worker; the page follows it until IMAP and SMTP answered."""
    mailbox = service.personal_mailbox(current_user.id)
    if mailbox is None:
        abort(404)
    return queue_check(mailbox, url_for("mailboxes.show"), render_page)


def queue_check(mailbox: Mailbox, page: str, render):
    """Queue the mailbox's check; htmx gets the panel that polls, a plain POST the page again."""
    if not EmptyForm().validate_on_submit():
        return redirect_to(page)
    tasks.queue_check(mailbox)
    if is_htmx_request():
        return render()
    return redirect(page, 303)


@bp.route(PAGE + "/folders", methods=["POST"])
@login_required
def save_folders():
    """Save the folders to sync and the day to sync from; errors beside their fields, nothing saved."""
    mailbox = service.personal_mailbox(current_user.id)
    if mailbox is None:
        abort(404)
    return save_folders_of(mailbox, url_for("mailboxes.show"), render_page)


def save_folders_of(mailbox: Mailbox, page: str, render):
    """Save the mailbox's folders as posted, or render the page with the errors beside their fields."""
    form = FoldersForm(offered=service.selectable_folders(mailbox))
    if not form.validate():
        return render(folders_form=form, status=422)
    sync_from = form.sync_from.data if form.sync.data == FROM_DATE else None
    service.save_folders(mailbox, form.folders.data, sync_from)
    flash("The folders to sync are saved.", "success")
    return redirect_to(page)


@bp.route(PAGE + "/disconnect", methods=["GET", "POST"])
@login_required
def disconnect():
    """Ask, then delete the mailbox and its own tokens."""
    mailbox = service.personal_mailbox(current_user.id)
    if mailbox is None:
        abort(404)
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        service.disconnect(current_user)
        flash(f"Your mailbox {mailbox.address} is disconnected and its tokens are deleted.", "success")
        return redirect_to(url_for("mailboxes.show"))
    return render_template("mailboxes/disconnect.html", mailbox=mailbox, form=form)


def render_page(folders_form: FoldersForm | None = None, status: int = 200):
    """Render My mailbox (or, for htmx, its mailbox panel) with the folders as sent."""
    mailbox = service.personal_mailbox(current_user.id)
    urls = {
        "page": url_for("mailboxes.show"),
        "connect": url_for("mailboxes.connect"),
        "replace": url_for("mailboxes.replace"),
        "replace_label": "Replace with another account",
        "check": url_for("mailboxes.check"),
        "folders": url_for("mailboxes.save_folders"),
        "remove": url_for("mailboxes.disconnect"),
        "remove_id": "disconnect",
        "remove_label": "Disconnect",
    }
    context = panel_context(mailbox, urls, folders_form)
    context.update(
        site_account=service.site_grant_offer(current_user),
        reconnect_account=mailbox.address if mailbox is not None else None,
    )
    template = "mailboxes/_mailbox.html" if is_htmx_request() else "mailboxes/mailbox.html"
    return render_template(template, **context), status, {"Cache-Control": "no-store", "Vary": "HX-Request"}


def panel_context(mailbox: Mailbox | None, urls: dict, folders_form: FoldersForm | None) -> dict:
    """Return what the mailbox panel (mailboxes/_mailbox.html) shows of `mailbox`, or of none yet."""
    context = {
        "gate_closed": service.gate_closed(),
        "site_account": None,
        "reconnect_account": None,
        "connect_form": ConnectForm(),
        "action": EmptyForm(),
        "urls": urls,
        "view": None,
    }
    if mailbox is None:
        return context
    if folders_form is None:
        folders_form = FoldersForm(formdata=None, offered=service.selectable_folders(mailbox))
        folders_form.sync.data = FROM_DATE if mailbox.sync_from or mailbox.folders is None else EVERYTHING
        folders_form.sync_from.data = mailbox.sync_from or service.default_sync_from()
        chosen = None
    else:
        chosen = folders_form.folders.data or []
    context.update(
        view=service.describe(mailbox),
        result=service.check_result(mailbox),
        check_overdue=service.check_overdue(mailbox),
        folders_form=folders_form,
        folders=service.folder_choices(mailbox, chosen),
    )
    return context
