"""Views of the account pages: first-admin setup, login, logout."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..htmx import redirect_to
from . import bp, service
from .access import safe_next, sign_in, sign_out
from .forms import EmptyForm, LoginForm, SetupForm

OPEN_WITHOUT_USERS = {"auth.setup", "static", "health.check"}


@bp.before_app_request
def require_first_admin():
    """Send every request to the setup page until the first administrator exists."""
    if request.endpoint in OPEN_WITHOUT_USERS or request.endpoint is None:
        return None
    if not service.has_users():
        return redirect_to(url_for("auth.setup"))
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first administrator, with the setup code the run command printed."""
    if service.has_users():
        return redirect(url_for("auth.login"))
    service.setup_code()
    form = SetupForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = service.create_first_admin(form.email.data, form.password.data)
        except service.AccountError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            sign_in(user)
            flash("Administrator account created. Welcome!", "success")
            return redirect(url_for("settings.microsoft"))
    if form.errors:
        status = 422
    return render_template("auth/setup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with e-mail and password; repeated failures are slowed down."""
    target = safe_next(request.args.get("next")) or url_for("settings.home")
    if current_user.is_authenticated:
        return redirect(target)
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        wait = service.seconds_until_next_attempt(form.email.data, address)
        if wait:
            form.password.errors.append(
                f"Too many failed sign-ins. Wait {wait} second{'s' if wait > 1 else ''} "
                "before trying again."
            )
            return render_template("auth/login.html", form=form), 429
        user = service.authenticate(form.email.data, form.password.data)
        if user is None:
            service.record_failure(form.email.data, address)
            form.password.errors.append("The e-mail address or the password is wrong.")
        else:
            service.clear_failures(user.email, address)
            sign_in(user)
            return redirect(target)
    if form.errors:
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: this browser's session ends on the server too."""
    if EmptyForm().validate_on_submit():
        sign_out()
        flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
