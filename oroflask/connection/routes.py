"""Views of Enable, Verify and Disable, the Redirect URI callback and the status poll."""

import json

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from ..auth.access import admin_required
from ..auth.forms import EmptyForm
from ..failures import EXPLAINED, explain
from ..htmx import is_htmx_request, redirect_to
from ..settings import PAGE
from ..settings import routes as settings_page  # what Enable and Verify answer without JavaScript
from ..settings import service as settings_service
from ..settings.forms import MicrosoftSettingsForm
from . import bp, service
from .models import SITE, SUCCEEDED, TERMINAL

AUTHORIZATION = PAGE + "/authorization"
# An attempt's own addresses (its sign-in window, status poll, closed window), for whoever started
# it: an admin's Enable or a user's mailbox.
ATTEMPT = "/oauth/microsoft/attempts/<token:attempt_id>"
# The session key naming the attempt whose sign-in this browser opened: the answer must come back
# to it. Only the attempt's id: the verifier and the nonce stay on the server.
OPENED_SIGN_IN = "microsoft_sign_in"


@bp.route(AUTHORIZATION, methods=["POST"])
@admin_required
def start():
    """Save the settings as the page shows them, then record an authorization attempt; the
    browser then opens Microsoft's sign-in."""
    form = MicrosoftSettingsForm()
    if not form.validate():
        return _refused_settings(form, "Nothing was started: correct the marked settings.")
    changes = form.changes()
    service.record_end_by_settings(settings_service.load(), changes, current_user)
    settings_service.save(changes, current_user, form.secret_expires_on())
    redirect_uri = settings_service.redirect_uri(request.host_url)
    try:
        attempt = service.start(current_user, redirect_uri)
    except EXPLAINED as error:
        problem = explain(error).sentence
        if is_htmx_request():
            return render_template("connection/_status.html", problem=problem), 422
        flash(problem, "error")
        return redirect(url_for("settings.microsoft"))
    begin_url = url_for("connection.begin", attempt_id=attempt.id)
    if not is_htmx_request():
        return redirect(url_for("connection.begin", attempt_id=attempt.id, window="same"))
    response = render_template("connection/_status.html", attempt=attempt)
    trigger = {
        "authorization-started": {
            "url": begin_url,
            "closedUrl": url_for("connection.closed", attempt_id=attempt.id),
        }
    }
    return response, 200, {"HX-Trigger": json.dumps(trigger)}


@bp.route(ATTEMPT + "/authorize")
@login_required
def begin(attempt_id: str):
    """Send the sign-in window to Microsoft's authorize endpoint, once per attempt."""
    attempt = service.attempt_of(current_user, attempt_id)
    if attempt is None:
        abort(404)
    sign_in_url = service.begin(attempt, same_window=request.args.get("window") == "same")
    if sign_in_url is not None:
        session[OPENED_SIGN_IN] = attempt.id
        return redirect(sign_in_url)
    if attempt.status not in TERMINAL:
        return _refused("This authorization was already opened in another window. Start it again from its page.")
    return _result(attempt)


@bp.route("/oauth/microsoft/callback")
def callback():
    """Receive Microsoft's answer on the Redirect URI and store the grant it is for."""
    if not current_user.is_authenticated:
        return _refused(
            "Your session has ended, so this answer from Microsoft cannot be used. "
            "Sign in and start again from the page you came from."
        )
    try:
        attempt = service.complete(current_user, request.args, opened_here=session.get(OPENED_SIGN_IN))
    except service.CallbackRefused as error:
        return _refused(str(error))
    if session.get(OPENED_SIGN_IN) == attempt.id:
        session.pop(OPENED_SIGN_IN)
    return _result(attempt)


@bp.route(ATTEMPT)
@login_required
def status(attempt_id: str):
    """Answer the status poll of an attempt (a small fragment; no writes)."""
    attempt = service.status_of(current_user, attempt_id)
    if attempt is None or not service.may_authorize(current_user, attempt.purpose):
        abort(404)
    if not is_htmx_request():
        return redirect(_result_url(attempt.purpose))
    return _status_fragment(attempt)


@bp.route(ATTEMPT + "/closed", methods=["POST"])
@login_required
def closed(attempt_id: str):
    """Record that the sign-in window was closed, and answer with the newest attempt's status."""
    attempt = service.attempt_of(current_user, attempt_id)
    if attempt is None:
        abort(404)
    service.closed(attempt)
    return _status_fragment(service.status_of(current_user, attempt.id))


@bp.route(PAGE + "/verify", methods=["POST"])
@admin_required
def verify():
    """Check tenant, client ID and secret as the page shows them, without a sign-in or saving
    them; place problems under their fields."""
    form = MicrosoftSettingsForm()
    if not form.validate():
        return _refused_settings(form, "Nothing was checked: correct the marked settings.")
    result = service.verify(form.changes())
    if not is_htmx_request():
        flash(result.message, "success" if result.ok else "error")
        # No field is marked on the page that follows: each explanation names its setting.
        for name, message in result.field_errors.items():
            flash(f"{settings_service.FIELDS[name].label}: {message}", "error")
        return settings_page.render_page(form)
    settings = settings_service.load()
    return render_template(
        "connection/_verify.html",
        result=result,
        form=form,
        fields=[settings_service.state(settings, settings_service.FIELDS[name]) for name in result.field_errors],
    )


@bp.route(PAGE + "/disable", methods=["GET", "POST"])
@admin_required
def disable():
    """Ask for confirmation, then turn emails sync off and delete the stored tokens."""
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        service.disable(current_user)
        flash("Emails sync is disabled and the stored tokens are deleted.", "success")
        return redirect_to(url_for("settings.microsoft"))
    if is_htmx_request():
        return render_template("connection/_disable_confirm.html", form=form)
    return render_template("connection/disable.html", form=form)


def _refused_settings(form: MicrosoftSettingsForm, message: str):
    """Answer Enable or Verify when a shown setting is refused: each error beside its field."""
    if not is_htmx_request():
        return settings_page.render_page(form, 422)
    settings = settings_service.load()
    refused = [settings_service.FIELDS[name] for name in form.errors if name in settings_service.FIELDS]
    body = render_template(
        "connection/_refused_settings.html",
        target=request.headers.get("HX-Target"),
        message=message,
        form=form,
        fields=[settings_service.state(settings, field) for field in refused],
        **settings_page.secret_expiry_context(settings),
    )
    return body, 422


def _status_fragment(attempt):
    expired = service.is_expired(attempt)
    body = render_template("connection/_status.html", attempt=attempt, expired=expired)
    if attempt.status == SUCCEEDED and attempt.purpose != SITE:
        # The page that started it shows the new grant in full: it is loaded again.
        return body, {"HX-Redirect": _result_url(attempt.purpose)}
    if attempt.status == SUCCEEDED:
        body += render_template(
            "settings/_enable.html", oob=True, **service.enable_row(settings_service.load())
        )
    return body


def _result(attempt):
    """Show the outcome: a short page that closes the popup, or the page that started it with a flash."""
    if attempt.same_window:
        if attempt.status == SUCCEEDED:
            flash(f"Authorization succeeded: connected as {attempt.account}", "success")
        else:
            flash(f"{attempt.error_title}. {attempt.error_action or ''}", "error")
        return redirect(_result_url(attempt.purpose))
    body = render_template(
        "connection/result.html",
        attempt=attempt,
        back_url=_result_url(attempt.purpose),
        back_title=service.RESULT_PAGES[attempt.purpose][1],
    )
    return body, 200 if attempt.status == SUCCEEDED else 400


def _result_url(purpose: str) -> str:
    return url_for(service.RESULT_PAGES[purpose][0])


def _refused(message: str):
    return render_template("connection/result.html", refused=message, back_url=url_for("settings.home")), 400
