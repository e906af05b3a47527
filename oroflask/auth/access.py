"""Who may open what: login for everything, the admin role for System pages; signing in and out."""

from dataclasses import dataclass
from functools import cache, wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import and_, bindparam, case, exists, false, func, literal_column, or_, select, true
from sqlalchemy.orm import aliased

from ..database import utcnow
from ..extensions import db, login_manager
from ..htmx import is_htmx_request, redirect_to
from . import sessions
from .models import User, UserSession

# Where the signed session cookie keeps the token of the server-side session.
SESSION_TOKEN = "session_token"


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
    """The account a request is signed in with, as Flask-Login's `current_user`, and its session.

    A plain value read with one SELECT on every request, rather than an ORM object: the pages
    need only who it is, whether it is an administrator and whether their mailbox needs a
    reconnect. Code that changes the account loads the `User` itself.
    """

    id: int
    email: str
    role: str
    session_id: int
    mailbox_reconnect_needed: bool = False
    # Told to admins only: a system mailbox's grant ended or died.
    system_mailbox_reconnect_needed: bool = False

    is_authenticated = True
    is_active = True
    is_anonymous = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        return str(self.id)


@cache
def _signed_in_user():
    """Return the SELECT of the account, its session, whether its personal mailbox needs a reconnect
    and, for an admin, whether a system mailbox does.

    Built at the first request: the mailbox and grant models belong to features that import this
    module themselves.
    """
    from ..connection.models import MicrosoftGrant
    from ..mailboxes.models import PERSONAL, SYSTEM, Mailbox

    # As mailboxes.service.describe decides it: no grant any more, a dead one, or the site's grant
    # now signed in as another account.
    # Constants written into the SQL rather than bound: nothing to process on each request, and
    # the kind matches the partial index of personal mailboxes.
    reconnect_needed = case(
        (Mailbox.id.is_(None), false()),
        (
            or_(
                MicrosoftGrant.id.is_(None),
                MicrosoftGrant.reconnect_reason.is_not(None),
                func.lower(MicrosoftGrant.account) != func.lower(Mailbox.address),
            ),
            true(),
        ),
        else_=false(),
    )
    # A system mailbox connected once whose grant was deleted (its reason kept) or died; one not
    # connected yet needs no reconnect. The partial index of system addresses serves the kind.
    system_mailbox = aliased(Mailbox)
    system_grant = aliased(MicrosoftGrant)
    system_reconnect_needed = case(
        (
            User.role == literal_column("'admin'"),
            exists(
                select(literal_column("1"))
                .select_from(system_mailbox)
                .outerjoin(system_grant, system_grant.id == system_mailbox.grant_id)
                .where(
                    system_mailbox.kind == literal_column(f"'{SYSTEM}'"),
                    or_(
                        and_(system_grant.id.is_(None), system_mailbox.grant_ended_reason.is_not(None)),
                        system_grant.reconnect_reason.is_not(None),
                    ),
                )
            ),
        ),
        else_=false(),
    )
    return (
        select(
            User.id,
            User.email,
            User.role,
            UserSession.id,
            UserSession.created_at,
            UserSession.last_seen_at,
            reconnect_needed,
            system_reconnect_needed,
        )
        .join_from(User, UserSession, UserSession.user_id == User.id)
        .outerjoin(Mailbox, and_(Mailbox.owner_id == User.id, Mailbox.kind == literal_column(f"'{PERSONAL}'")))
        .outerjoin(MicrosoftGrant, MicrosoftGrant.id == Mailbox.grant_id)
        .where(UserSession.token_hash == bindparam("token_hash"), User.id == bindparam("id"), User.active)
    )


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    # The account and its session in one SELECT: a session ended, expired, unknown, opened for
    # another account or of a deactivated account is signed out, whatever the cookie (or a
    # remember-me cookie) says.
    token = session.get(SESSION_TOKEN)
    if not isinstance(token, str):
        return None
    try:
        number = int(user_id)
    except ValueError:
        return None
    row = (
        db.session.connection()
        .execute(_signed_in_user(), {"id": number, "token_hash": sessions.token_hash(token)})
        .first()
    )
    if row is None:
        return None
    account_id, email, role, session_id, created_at, last_seen_at, mailbox_reconnect_needed, system_reconnect = row
    now = utcnow()
    if sessions.has_expired(created_at, last_seen_at, now):
        return None
    if now - last_seen_at > sessions.LAST_SEEN_PRECISION:
        sessions.touch(session_id, now)
    return SignedInUser(
        account_id, email, role, session_id, bool(mailbox_reconnect_needed), bool(system_reconnect)
    )


def sign_in(user: User) -> None:
    """Sign `user` in with a new server-side session; nothing of the visitor's session carries over.

    A fresh session gets a fresh CSRF secret, so that a token planted in the browser before sign-in
    (with a cookie set by someone else) is worthless after it.
    """
    token = sessions.start_session(
        user.id, request.headers.get("User-Agent", ""), request.remote_addr or "unknown"
    )
    user.last_sign_in_at = utcnow()
    db.session.commit()
    session.clear()
    session[SESSION_TOKEN] = token
    # The new CSRF secret is made now, not by the first page after sign-in: pages opened at once
    # in several tabs then share it. The request's cached token was made from the old one.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    generate_csrf()
    login_user(user)


def sign_out() -> None:
    """End this request's session on the server and forget everything of it in the cookie."""
    if current_user.is_authenticated:
        sessions.end_session(current_user.id, current_user.session_id)
        db.session.commit()
    session.clear()
    logout_user()


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
