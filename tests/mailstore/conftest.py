"""Fixtures for the mail store: a mailbox to store into, and messages as the IMAP side fetches them."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from oroflask.auth.models import User
from oroflask.extensions import db
from oroflask.mailboxes.models import PERSONAL, Mailbox
from tests.conftest import USER_EMAIL

ARRIVED = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Fetched:
    """A message as the sync engine hands it over: UID, flags, INTERNALDATE, size and raw bytes."""

    uid: int
    raw: bytes
    flags: tuple[str, ...] = ()
    internaldate: datetime = ARRIVED
    size: int = 0

    def __post_init__(self):
        if not self.size:
            object.__setattr__(self, "size", len(self.raw))


def mail(
    message_id: str | None = None,
    subject: str = "Quarterly figures",
    body: str = "Here are the figures.",
    in_reply_to: str | None = None,
    references: str | None = None,
    sender: str = "Alex Wilber <alex@contoso.com>",
) -> bytes:
    """Return a plain text message with these headers."""
    lines = [f"From: {sender}", "To: Adele Vance <adele@contoso.com>", f"Subject: {subject}",
             "Date: Tue, 01 Dec 2026 10:00:00 +0100"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def fetched(uid: int, raw: bytes, *flags: str, minutes: int = 0) -> Fetched:
    """Return message `raw` under `uid`, arrived `minutes` after the first."""
    return Fetched(uid=uid, raw=raw, flags=flags, internaldate=ARRIVED + timedelta(minutes=minutes))


@pytest.fixture
def mailbox_id(app, user) -> int:
    """Return the id of a personal mailbox, stored as connecting one stores it."""
    with app.app_context():
        owner = db.session.execute(select(User).where(User.email == USER_EMAIL)).scalar_one()
        mailbox = Mailbox(kind=PERSONAL, owner_id=owner.id, address="adele@contoso.com", label="Adele Vance")
        db.session.add(mailbox)
        db.session.commit()
        return mailbox.id


@pytest.fixture
def context(app):
    """Run the test inside an application context, as the sync engine's task does."""
    with app.app_context():
        yield
        db.session.rollback()
