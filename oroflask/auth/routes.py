"""Views of the account pages: first-admin setup, login, logout."""

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..htmx import redirect_to
from . import bp, service
from .access import safe_next
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
        if not service.check_setup_code(form.setup_code.data):
            form.setup_code.errors.append(
                "This is not the setup code. It is printed when the app starts "
                "and kept in instance/setup-code."
            )
        else:
            try:
                user = service.create_first_admin(form.email.data, form.password.data)
            except service.AccountError as error:
                getattr(form, error.field).errors.append(str(error))
            else:
                start_session(user)
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
            start_session(user)
            return redirect(target)
    if form.errors:
        status = 422
    return render_template("auth/login.html", form=form), status


def start_session(user) -> None:
    """Sign `user` in with a new session: nothing of the visitor's session is carried over.

    A fresh session gets a fresh CSRF secret, so that a token planted in the browser before sign-in
    (with a cookie set by someone else) is worthless after it.
    """
    session.clear()
    login_user(user)


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out."""
    if EmptyForm().validate_on_submit():
        logout_user()
        flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
