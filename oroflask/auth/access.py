"""Who may open what: login for everything, the admin role for System pages."""

from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import bindparam, select

from ..extensions import db, login_manager
from ..htmx import is_htmx_request, redirect_to
from .models import User


def admin_required(view):
    """Let only signed-in administrators through; others get 403, visitors the login page."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None) -> str | None:
    """Return `target` when it is a path on this site, so login cannot redirect elsewhere."""
    # Browsers read a backslash as a slash (/\evil.example is another site) and drop control
    # characters; a line break cannot go into the Location header at all.
    if not target or not target.startswith("/") or not target.isprintable() or "\\" in target:
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # a malformed host, such as "http://["
        return None
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """The account a request is signed in with, as Flask-Login's `current_user`.

    A plain value read with one SELECT on every request, rather than an ORM object: the pages
    need only who it is and whether it is an administrator. Code that changes the account loads
    the `User` itself.
    """

    id: int
    email: str
    role: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        return str(self.id)


_SIGNED_IN_USER = select(User.id, User.email, User.role).where(User.id == bindparam("id"))


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    try:
        number = int(user_id)
    except ValueError:
        return None
    row = db.session.connection().execute(_SIGNED_IN_USER, {"id": number}).first()
    return SignedInUser(*row) if row is not None else None


@login_manager.unauthorized_handler
def send_to_login():
    # An htmx request gets the page it came from as `next`, never its own fragment URL.
    if is_htmx_request():
        target = safe_next(_path_of(request.headers.get("HX-Current-URL", "")))
    else:
        target = safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
    location = url_for("auth.login", next=target) if target else url_for("auth.login")
    response = redirect_to(location)
    if is_htmx_request():
        response.status_code = 401
    return response


def _path_of(url: str) -> str | None:
    try:
        return urlsplit(url).path
    except ValueError:
        return None
