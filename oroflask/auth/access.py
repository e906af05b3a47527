"""Who may open what: login for everything, the admin role for System pages."""

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, request, url_for
from flask_login import current_user, login_required

from ..extensions import login_manager
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
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    from ..extensions import db

    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None


@login_manager.unauthorized_handler
def send_to_login():
    # An htmx request gets the page it came from as `next`, never its own fragment URL.
    if is_htmx_request():
        current = request.headers.get("HX-Current-URL", "")
        target = safe_next(urlsplit(current).path) if current else None
    else:
        target = safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
    location = url_for("auth.login", next=target) if target else url_for("auth.login")
    response = redirect_to(location)
    if is_htmx_request():
        response.status_code = 401
    return response
