"""Views of System > Configuration > Integrations > Microsoft Settings."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, user_logged_in

from ..auth.access import admin_required
from ..auth.forms import EmptyForm
from ..connection import service as connection_service
from ..encryption import encrypt
from ..web import content_security_policy
from . import PAGE, bp, service
from .forms import MicrosoftSettingsForm


@bp.route("/")
@login_required
def home():
    """Open the administrator's settings page, or a user's own account page."""
    if current_user.is_admin:
        return redirect(url_for("settings.microsoft"))
    return redirect(url_for("account.show"))


@bp.route(PAGE, methods=["GET", "POST"])
@admin_required
def microsoft():
    """Show Microsoft Settings; Save Settings stores every field at once, or none."""
    form = MicrosoftSettingsForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            changes = form.changes()
            ends = None if _confirmed() else connection_service.ended_by(service.load(), changes)
            if ends:
                return render_page(form, confirm=ends, pending_secret=changes["client_secret"])
            connection_service.record_end_by_settings(service.load(), changes, current_user)
            service.save(changes, current_user, form.secret_expires_on())
            flash("Configuration saved", "success")
            return redirect(url_for("settings.microsoft"))
        status = 422
    return render_page(form, status)


def _confirmed() -> bool:
    return request.form.get("confirmed") == "y"


def render_page(form: MicrosoftSettingsForm, status: int = 200, *, confirm=None, pending_secret=service.KEEP):
    """Render the settings page, with what `form` holds when it was submitted.

    `confirm` asks before Save Settings ends the connection, keeping a typed secret encrypted.
    """
    settings = service.load()
    public_address = service.public_address(request.host_url)
    body = render_template(
        "settings/microsoft.html",
        form=form,
        confirm=confirm,
        pending_secret=encrypt(pending_secret) if isinstance(pending_secret, str) else None,
        fields=[service.state(settings, field) for field in service.FIELDS.values()],
        redirect_uri=public_address.url + service.CALLBACK_PATH,
        public_address=public_address,
        submitted=request.method == "POST",
        **secret_expiry_context(settings),
        **connection_service.enable_row(settings),
    )
    # Enable without JavaScript is a form whose redirects lead to Microsoft's sign-in page.
    origin = connection_service.sign_in_origin()
    policy = content_security_policy(form_action=(origin,) if origin else ())
    return body, status, {"Content-Security-Policy": policy}


@user_logged_in.connect
def pin_public_address(app, user, **extra) -> None:
    """Pin the public address from the request an administrator signs in with, when none is yet:
    the setup page's, or the first sign-in after `flask create-admin`."""
    if user.is_admin:
        service.pin_public_address(request.host_url)


@bp.route(PAGE + "/fields/<name>", methods=["POST"])
@admin_required
def save_field(name: str):
    """Save one field as it is typed (htmx), answering with its fragment."""
    field = _field_or_404(name)
    form = MicrosoftSettingsForm()
    settings = service.load()
    if not form.validate_field(name):
        return _field_response(field, settings, form=form, status=422)
    changes = form.changes([name])
    ends = None if _confirmed() else connection_service.ended_by(settings, changes)
    if ends:
        return _field_response(field, settings, form=form, question=_question(field, ends, default=False))
    connection_service.record_end_by_settings(settings, changes, current_user)
    changed = service.save(changes, current_user)
    return _field_response(field, settings, saved=bool(changed))


@bp.route(PAGE + "/fields/<name>/use-default", methods=["POST"])
@admin_required
def use_default(name: str):
    """Switch a field's Use Default on or off at once (htmx), answering with its fragment."""
    field = _field_or_404(name)
    form = MicrosoftSettingsForm()
    settings = service.load()
    on = form[name + "_use_default"].data
    ends = connection_service.ended_by(settings, {name: service.USE_DEFAULT}) if on and not _confirmed() else None
    if ends:
        return _field_response(field, settings, question=_question(field, ends, default=True))
    if on:
        connection_service.record_end_by_settings(settings, {name: service.USE_DEFAULT}, current_user)
    changed = service.set_use_default(field, on, current_user)
    return _field_response(field, settings, saved=changed)


def _question(field: service.Field, ends: str, *, default: bool) -> dict:
    """Return what a field asks before a change that ends the connection (settings/_field.html)."""
    if default:
        return {
            "question": f"Use the default {field.label}?",
            "detail": ends,
            "action": "Use the default and end the connection",
            "url": url_for("settings.use_default", name=field.name),
            "values": {f"{field.name}_use_default": "y", "confirmed": "y"},
        }
    return {
        "question": f"Change the {field.label} of the working connection?",
        "detail": ends,
        "action": "Change it and end the connection",
        "url": url_for("settings.save_field", name=field.name),
        "values": {"confirmed": "y"},
    }


@bp.route(PAGE + "/fields/client_secret_expires_on", methods=["POST"])
@admin_required
def save_secret_expiry():
    """Save the client secret's expiry date as it is entered (htmx), answering with its fragment."""
    form = MicrosoftSettingsForm()
    settings = service.load()
    if not form.client_secret_expires_on.validate(form):
        return _secret_expiry_response(settings, form=form, status=422)
    changed = service.save({}, current_user, form.secret_expires_on())
    return _secret_expiry_response(settings, saved=bool(changed))


@bp.route(PAGE + "/fields/client_secret/remove", methods=["GET", "POST"])
@admin_required
def remove_secret():
    """Ask for confirmation, then forget the saved client secret."""
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        if service.remove_client_secret(current_user):
            flash("The saved client secret is removed.", "success")
        return redirect(url_for("settings.microsoft"))
    return render_template("settings/remove_secret.html", form=form)


def secret_expiry_context(settings) -> dict:
    """Return what settings/_secret_expiry.html shows besides the form."""
    return {
        "expires_on": settings.client_secret_expires_on,
        "secret_warning": connection_service.secret_expiry_warning(settings.client_secret_expires_on),
    }


def _secret_expiry_response(settings, *, form=None, saved=False, status=200):
    return render_template(
        "settings/_secret_expiry.html", form=form, saved=saved, **secret_expiry_context(settings)
    ), status


def _field_or_404(name: str) -> service.Field:
    field = service.FIELDS.get(name)
    if field is None:
        abort(404)
    return field


def _field_response(field: service.Field, settings, *, form=None, saved=False, question=None, status=200):
    # `settings` is the row the view loaded before saving: service.save worked on the same object
    # (the session's identity map), so the answer shows what was stored without reading it again.
    return render_template(
        "settings/_field_response.html",
        f=service.state(settings, field),
        form=form,
        saved=saved,
        question=question,
        **connection_service.enable_row(settings),
    ), status
