"""What the tests of System › Users share: the pages' forms as a browser sends them, what is stored."""

import re
from html import unescape

from oroflask.audit.models import ACCOUNTS, AuditEvent
from oroflask.auth.models import PasswordLink, User
from oroflask.extensions import db

from ..conftest import csrf_token

USERS = "/admin/users"
NEW_USER = "/admin/users/new"
LINK = re.compile(r'id="link" value="([^"]+)"')


def create_user(client, email="new@example.com", name="New Person", role="user", sign_in="link", password=""):
    """Press Create user with these values."""
    return client.post(
        NEW_USER,
        data={
            "email": email,
            "name": name,
            "role": role,
            "sign_in": sign_in,
            "password": password,
            "csrf_token": csrf_token(client, NEW_USER),
        },
    )


def edit_user(client, user_id: int, name="", role="user", active=True):
    """Press Save on an account's page with these values (an unticked box is not sent)."""
    data = {"name": name, "role": role, "csrf_token": csrf_token(client, f"{USERS}/{user_id}")}
    if active:
        data["active"] = "y"
    return client.post(f"{USERS}/{user_id}", data=data)


def reset_password(client, user_id: int):
    """Confirm Reset password of an account."""
    page = f"{USERS}/{user_id}/reset-password"
    return client.post(page, data={"csrf_token": csrf_token(client, page)})


def link_of(response) -> str:
    """Return the one-time link a page shows."""
    match = LINK.search(response.get_data(as_text=True))
    assert match, "no one-time link on the page"
    return unescape(match.group(1))


def account(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
        if user is not None:
            db.session.expunge(user)
        return user


def links_of(app, email: str) -> list[PasswordLink]:
    with app.app_context():
        return list(
            db.session.execute(
                db.select(PasswordLink).join(User, User.id == PasswordLink.user_id).where(User.email == email)
            ).scalars()
        )


def account_events(app) -> list[tuple[str, str, str]]:
    """Return the audit log's accounts events as (actor e-mail, subject, change), oldest first."""
    with app.app_context():
        events = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.area == ACCOUNTS).order_by(AuditEvent.id)
        ).scalars()
        return [(event.actor_email, event.subject, event.change) for event in events]
