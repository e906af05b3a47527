"""Views of System › Email › System mailboxes (admins): the list, Add mailbox, each mailbox's page
(Connect as the mailbox or a delegate, Check connection, folders, label, who may read it) and Remove."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth.access import admin_required
from ..auth.forms import EmptyForm
from ..database import ID_MAX
from ..htmx import is_htmx_request, redirect_to
from . import bp, service, system_service
from .forms import ConnectForm, FoldersForm, LabelForm, ReadersForm, SystemMailboxForm
from .models import Mailbox
from .routes import panel_context, queue_check, save_folders_of, start_sign_in

LIST = "/admin/config/email/mailboxes"
MAILBOX = LIST + f"/<int(max={ID_MAX}):mailbox_id>"


@bp.route(LIST)
@admin_required
def system_list():
    """List the system mailboxes: label, address, state, readers, last check."""
    body = render_template("mailboxes/system_list.html", rows=system_service.listed())
    return body, 200, {"Cache-Control": "no-store"}


@bp.route(LIST + "/new", methods=["GET", "POST"])
@admin_required
def system_add():
    """Add a system mailbox (label and address); it is connected on its page next."""
    form = SystemMailboxForm()
    if form.validate_on_submit():
        try:
            mailbox = system_service.add(current_user, form.label.data or "", form.address.data or "")
        except system_service.MailboxError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            flash(f"{mailbox.address} is added. Connect it with Microsoft 365 now.", "success")
            return redirect(url_for("mailboxes.system_show", mailbox_id=mailbox.id))
    body = render_template("mailboxes/system_add.html", form=form)
    return body, 422 if form.errors else 200, {"Cache-Control": "no-store"}


@bp.route(LIST + "/signed-in")
@admin_required
def system_signed_in():
    """Go to the system mailbox of the newest sign-in: where its outcome is shown."""
    mailbox = system_service.signed_in_mailbox(current_user)
    if mailbox is None:
        return redirect(url_for("mailboxes.system_list"))
    return redirect(url_for("mailboxes.system_show", mailbox_id=mailbox.id))


@bp.route(MAILBOX)
@admin_required
def system_show(mailbox_id: int):
    """Show a system mailbox: its connection, check, folders, label and readers."""
    return render_system_page(_get_or_404(mailbox_id))


@bp.route(MAILBOX + "/connect", methods=["POST"])
@admin_required
def system_connect(mailbox_id: int):
    """Record a Microsoft sign-in for the mailbox, as itself or as a delegate with Full Access."""
    mailbox = _get_or_404(mailbox_id)
    page = url_for("mailboxes.system_show", mailbox_id=mailbox.id)
    form = ConnectForm()
    if not form.validate() or service.gate_closed():
        return redirect_to(page)
    return start_sign_in(
        lambda redirect_uri: system_service.start_connect(current_user, mailbox, redirect_uri, form.replaces),
        page,
    )


@bp.route(MAILBOX + "/replace")
@admin_required
def system_replace(mailbox_id: int):
    """Ask before another account replaces the one that signs in for the mailbox."""
    mailbox = _get_or_404(mailbox_id)
    view = service.describe(mailbox)
    if view.signed_in_as is None:
        return redirect(url_for("mailboxes.system_show", mailbox_id=mailbox.id))
    return render_template("mailboxes/system_replace.html", view=view, form=ConnectForm(replace="1"))


@bp.route(MAILBOX + "/check", methods=["POST"])
@admin_required
def system_check(mailbox_id: int):
    """Queue Check connection for the worker; the page follows it until IMAP and SMTP answered."""
    mailbox = _get_or_404(mailbox_id)
    page = url_for("mailboxes.system_show", mailbox_id=mailbox.id)
    return queue_check(mailbox, page, lambda: render_system_page(mailbox))


@bp.route(MAILBOX + "/folders", methods=["POST"])
@admin_required
def system_save_folders(mailbox_id: int):
    """Save the folders to sync and the day to sync from; errors beside their fields, nothing saved."""
    mailbox = _get_or_404(mailbox_id)
    page = url_for("mailboxes.system_show", mailbox_id=mailbox.id)
    return save_folders_of(mailbox, page, lambda **kwargs: render_system_page(mailbox, **kwargs))


@bp.route(MAILBOX + "/label", methods=["POST"])
@admin_required
def system_rename(mailbox_id: int):
    """Change the mailbox's label."""
    mailbox = _get_or_404(mailbox_id)
    form = LabelForm()
    if form.validate_on_submit():
        try:
            changed = system_service.rename(current_user, mailbox, form.label.data or "")
        except system_service.MailboxError as error:
            form.label.errors.append(str(error))
        else:
            flash(f"The label is now {mailbox.label}." if changed else "The label is unchanged.", "success")
            return redirect(url_for("mailboxes.system_show", mailbox_id=mailbox.id))
    return render_system_page(mailbox, label_form=form, status=422)


@bp.route(MAILBOX + "/readers", methods=["POST"])
@admin_required
def system_readers(mailbox_id: int):
    """Let exactly the chosen users and roles read the mailbox."""
    mailbox = _get_or_404(mailbox_id)
    form = _readers_form()
    if form.validate_on_submit():
        try:
            added = system_service.accounts_named(form.add_users.data or "")
            changes = system_service.set_readers(current_user, mailbox, form.users.data + added, form.roles.data)
        except system_service.MailboxError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            flash("; ".join(changes).capitalize() + "." if changes else "Who may read it is unchanged.", "success")
            return redirect(url_for("mailboxes.system_show", mailbox_id=mailbox.id))
    form.users.choices = system_service.active_accounts(form.users.data or [])
    return render_system_page(mailbox, readers_form=form, status=422)


@bp.route(MAILBOX + "/remove", methods=["GET", "POST"])
@admin_required
def system_remove(mailbox_id: int):
    """Ask, then delete the mailbox, its tokens and the mail synced from it."""
    mailbox = _get_or_404(mailbox_id)
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        address = mailbox.address
        system_service.remove(current_user, mailbox)
        flash(f"{address} is removed; its tokens and the mail synced from it are deleted.", "success")
        return redirect_to(url_for("mailboxes.system_list"))
    return render_template("mailboxes/system_remove.html", mailbox=mailbox, form=form)


def render_system_page(
    mailbox: Mailbox,
    folders_form: FoldersForm | None = None,
    label_form: LabelForm | None = None,
    readers_form: ReadersForm | None = None,
    status: int = 200,
):
    """Render a system mailbox's page (or, for htmx, its mailbox panel) with forms as sent."""
    mailbox_id = mailbox.id
    urls = {
        "page": url_for("mailboxes.system_show", mailbox_id=mailbox_id),
        "connect": url_for("mailboxes.system_connect", mailbox_id=mailbox_id),
        "replace": url_for("mailboxes.system_replace", mailbox_id=mailbox_id),
        "replace_label": "Sign in with another account",
        "check": url_for("mailboxes.system_check", mailbox_id=mailbox_id),
        "folders": url_for("mailboxes.system_save_folders", mailbox_id=mailbox_id),
        "remove": url_for("mailboxes.system_remove", mailbox_id=mailbox_id),
        "remove_id": "remove",
        "remove_label": "Remove",
    }
    context = panel_context(mailbox, urls, folders_form)
    grant = service.own_grant(mailbox)
    context["reconnect_account"] = grant.account if grant is not None else None
    if is_htmx_request():
        body = render_template("mailboxes/_mailbox.html", **context)
    else:
        if readers_form is None:
            readers = system_service.readers(mailbox)
            readers_form = _readers_form(formdata=None)
            readers_form.roles.data = list(readers.roles)
            readers_form.users.choices = list(readers.users)
            readers_form.users.data = [user_id for user_id, _ in readers.users]
        body = render_template(
            "mailboxes/system_mailbox.html",
            label_form=label_form or LabelForm(formdata=None, label=mailbox.label),
            readers_form=readers_form,
            **context,
        )
    return body, status, {"Cache-Control": "no-store", "Vary": "HX-Request"}


def _readers_form(**kwargs) -> ReadersForm:
    form = ReadersForm(**kwargs)
    form.roles.choices = list(system_service.ROLE_NAMES.items())
    return form


def _get_or_404(mailbox_id: int) -> Mailbox:
    mailbox = system_service.get(mailbox_id)
    if mailbox is None:
        abort(404)
    return mailbox
