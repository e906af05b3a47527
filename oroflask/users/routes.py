"""Views of System › Users: the list with its search, Create user, Edit, Reset password."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth.access import admin_required
from ..auth.forms import EmptyForm
from ..auth.service import AccountError
from ..database import ID_MAX
from ..htmx import is_htmx_request
from . import bp, service
from .forms import TYPED, CreateUserForm, EditUserForm, SearchForm

# A page that shows a one-time link: no cache keeps it, no other site learns of it.
LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.route("/admin/users")
@admin_required
def index():
    """List the accounts, searched by e-mail or name; htmx gets the table alone."""
    form = SearchForm(formdata=request.args)
    status = 200
    if form.validate():
        found = service.search(form.q.data or "", request.args.get("page", 1, type=int))
    else:
        found = service.UserPage([], 0, 1, 1)
        status = 422
    fragment = is_htmx_request()
    template = "users/_results.html" if fragment else "users/index.html"
    body = render_template(template, form=form, found=found, query=form.q.data or "", announce=fragment)
    return body, status, {"Vary": "HX-Request"}


def _get_or_404(user_id: int):
    user = service.get(user_id)
    if user is None:
        abort(404)
    return user


def _show_link(user, token: str, made_for: str):
    """Render the page that shows a one-time link, once."""
    body = render_template(
        "users/link.html",
        user=user,
        url=service.link_url(token, request.root_url),
        path=service.link_path(token),
        made_for=made_for,
    )
    return body, 200, LINK_HEADERS


@bp.route("/admin/users/new", methods=["GET", "POST"])
@admin_required
def create():
    """Create an account, with a password typed now or a one-time link shown once."""
    form = CreateUserForm()
    if form.validate_on_submit():
        password = form.password.data if form.sign_in.data == TYPED else None
        try:
            user, token = service.create(current_user, form.email.data, form.name.data or "", form.role.data, password)
        except AccountError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            if token:
                return _show_link(user, token, "created")
            flash(f"Account {user.email} created; it signs in with the password you typed.", "success")
            return redirect(url_for("users.index"))
    body = render_template("users/new.html", form=form)
    return body, 422 if form.errors else 200, {"Cache-Control": "no-store"}


@bp.route(f"/admin/users/<int(max={ID_MAX}):user_id>", methods=["GET", "POST"])
@admin_required
def edit(user_id: int):
    """Change an account's name, role and whether it is active."""
    user = _get_or_404(user_id)
    form = EditUserForm(obj=user)
    if form.validate_on_submit():
        try:
            changes = service.update(current_user, user, form.name.data or "", form.role.data, form.active.data)
        except AccountError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            flash(f"{user.email}: " + ("; ".join(changes) if changes else "nothing changed") + ".", "success")
            return redirect(url_for("users.edit", user_id=user.id))
    body = render_template("users/edit.html", form=form, user=user)
    return body, 422 if form.errors else 200


@bp.route(f"/admin/users/<int(max={ID_MAX}):user_id>/reset-password", methods=["GET", "POST"])
@admin_required
def reset_password(user_id: int):
    """Ask, then make a new one-time link: the old password and the account's sessions end."""
    user = _get_or_404(user_id)
    form = EmptyForm()
    problem = None
    if user.id == current_user.id:
        problem = "This is your own account: change your password on My account."
    elif not user.active:
        problem = f"{user.email} is deactivated: reactivate it first."
    elif form.validate_on_submit():
        token = service.reset_password(current_user, user)
        return _show_link(user, token, "reset")
    body = render_template("users/reset_password.html", form=form, user=user, problem=problem)
    return body, 409 if problem and request.method == "POST" else 200
