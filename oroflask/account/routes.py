"""Views of My account: the page, Change password, Sign out of other browsers."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth.forms import EmptyForm
from ..database import ID_MAX
from . import bp, service
from .forms import ChangePasswordForm


@bp.route("/account")
@login_required
def show():
    """Show the signed-in account: its name and e-mail, Change password and where it is signed in."""
    return render_page(ChangePasswordForm(formdata=None))


def render_page(form: ChangePasswordForm, status: int = 200):
    """Render My account with the password form as submitted."""
    browsers = service.signed_in_browsers(current_user.id, current_user.session_id)
    body = render_template(
        "account/account.html",
        form=form,
        browsers=browsers,
        action=EmptyForm(),
        name=service.account_name(current_user.id),
    )
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """Change one's password, the current one given; every other session of the account ends."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_page(form, 422)
    address = request.remote_addr or "unknown"
    problem = service.current_password_problem(current_user.id, form.current_password.data, address)
    if problem:
        form.current_password.errors.append(problem)
        return render_page(form, 422)
    service.change_password(current_user.id, form.new_password.data, current_user.session_id)
    flash("Password changed; your other sessions were signed out.", "success")
    return redirect(url_for("account.show"))


@bp.route(f"/account/sessions/<int(max={ID_MAX}):session_id>/sign-out", methods=["POST"])
@login_required
def end_session(session_id: int):
    """Sign one other browser of the account out."""
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("account.show"))
    if not service.end_other_session(current_user.id, session_id, current_user.session_id):
        abort(404)
    flash("That browser is signed out.", "success")
    return redirect(url_for("account.show"))


@bp.route("/account/sessions/sign-out-others", methods=["POST"])
@login_required
def end_other_sessions():
    """Sign out every browser of the account but this one."""
    if EmptyForm().validate_on_submit():
        ended = service.end_other_sessions(current_user.id, current_user.session_id)
        flash(f"Signed out everywhere else ({ended} other session{'' if ended == 1 else 's'}).", "success")
    return redirect(url_for("account.show"))
