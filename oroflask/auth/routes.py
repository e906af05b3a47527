"""Views of the account pages: first-admin setup, login, logout, the page of a one-time password link."""

from flask import Response, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..htmx import redirect_to
from ..web import error_response
from . import bp, password_links, service
from .access import safe_next, sign_in, sign_out
from .forms import EmptyForm, LoginForm, SetPasswordForm, SetupForm

OPEN_WITHOUT_USERS = {"auth.setup", "static", "health.check"}
DEACTIVATED = "This account is deactivated. Ask an administrator to reactivate it."


@bp.before_app_request
def require_first_admin():
    """Send every request to the setup page until the first administrator exists."""
    if request.endpoint in OPEN_WITHOUT_USERS or request.endpoint is None:
        return None
    if not service.has_administrator():
        return redirect_to(url_for("auth.setup"))
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first administrator, with the setup code the run command printed."""
    if service.has_administrator():
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
        elif not user.active:
            # Said only once the password is right: a guesser learns nothing of the account.
            form.password.errors.append(DEACTIVATED)
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


# The link's token is in the URL: no cache keeps the page, no other site learns the address.
LINK_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.route(password_links.LINK_PATH + "<token:token>", methods=["GET", "POST"])
def set_password(token: str):
    """Set an account's password with a one-time link, then sign in as that account."""
    user = password_links.account_of(token)
    if user is None:
        return link_page(link_no_longer_valid())
    form = SetPasswordForm(user.email)
    if form.validate_on_submit():
        user = password_links.set_password(token, form.password.data)
        if user is None:  # another browser used the link meanwhile
            return link_page(link_no_longer_valid())
        sign_out()
        sign_in(user)
        flash("Your password is set. Welcome!", "success")
        return link_page(redirect(url_for("settings.home")))
    body = render_template("auth/set_password.html", form=form, email=user.email)
    return link_page((body, 422 if form.errors else 200))


def link_no_longer_valid():
    """Answer a used, replaced, expired or unknown link, or one of a deactivated account."""
    hours = current_app.config["PASSWORD_LINK_HOURS"]
    return error_response(
        404,
        "This link is no longer valid",
        "It was used already, replaced by a newer one, or is older than "
        f"{hours} hour{'' if hours == 1 else 's'}. Ask an administrator for a new one.",
    )


def link_page(answer) -> Response:
    """Make `answer` one that no cache keeps and whose address no other site learns (the token)."""
    response = make_response(answer)
    response.headers.update(LINK_PAGE_HEADERS)
    return response
