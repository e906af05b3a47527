"""Sending: the mailboxes a user may send from, drafts built into MIME messages (new, reply,
reply all, forward), the outbox, and its delivery over SMTP by the worker.

Delivery never sends a message twice: its state is committed as "sending" before SMTP is
spoken and as "sent" right after; a run that finds it "sending" long after it started (a worker
that died in between) marks it failed with that said, rather than risk a second copy. Exchange
Online takes at most 30 messages a minute from one mailbox: delivery counts, in the database, the
sends a mailbox started in the last minute, and a message over the limit waits in the queue.
"""

import email.policy
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

from flask import current_app
from sqlalchemy import func, select, update

from .. import config
from ..auth.access import SignedInUser
from ..connection import tokens
from ..database import utcnow
from ..extensions import db
from ..failures import EXPLAINED, explain
from ..mailboxes.models import SYSTEM, Mailbox
from ..mailboxes.service import open_imap
from ..mailboxes.system_service import readable_mailboxes
from ..mailservers import ImapSession, MailServerError, send_message
from ..mailservers.errors import TEMPORARY_KINDS
from ..mailstore.models import Message, MessageContent
from .models import COMPOSED, FAILED, QUEUED, ROUND_TRIP, SENDING, SENT, OutgoingMessage

REPLY, REPLY_ALL, FORWARD = "reply", "reply_all", "forward"
MODES = (REPLY, REPLY_ALL, FORWARD)
# Exchange Online's sending limit per mailbox.
PER_MINUTE = 30
WINDOW = timedelta(minutes=1)
# Temporary refusals are tried again after 1, 2, 4, 8 minutes, then the message fails.
MAX_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 60
# A send still "sending" this long after it started was cut off by a worker that stopped.
INTERRUPTED_AFTER = timedelta(minutes=10)
ROUND_TRIP_DEADLINE_SECONDS = 60
ROUND_TRIP_STEP_SECONDS = 0.5
SENT_FOLDER = "Sent Items"
PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv)\s*:\s*)+", re.IGNORECASE)


@dataclass
class Attachment:
    """A file to send: its name, MIME type and bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Draft:
    """What a user composed, as the form holds it."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    in_reply_to: str | None = None
    references: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def sendable_mailboxes(user: SignedInUser) -> list[Mailbox]:
    """Return the connected mailboxes `user` may send from: their own and the system ones they read."""
    return list(
        db.session.execute(
            select(Mailbox)
            .where(Mailbox.id.in_(readable_mailboxes(user)), Mailbox.grant_id.is_not(None))
            .order_by(Mailbox.kind, Mailbox.label, Mailbox.address)
        ).scalars()
    )


def mailbox_for(user: SignedInUser, mailbox_id: int | None) -> Mailbox | None:
    """Return the mailbox if `user` may use it, else None (the caller answers 404)."""
    if mailbox_id is None:
        return None
    return db.session.execute(
        select(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.id.in_(readable_mailboxes(user)))
    ).scalar_one_or_none()


def message_for(user: SignedInUser, message_id: int | None) -> Message | None:
    """Return the synced message if `user` may read its mailbox, else None."""
    if message_id is None:
        return None
    return db.session.execute(
        select(Message).where(Message.id == message_id, Message.mailbox_id.in_(readable_mailboxes(user)))
    ).scalar_one_or_none()


def outgoing_for(user: SignedInUser, outgoing_id: int) -> OutgoingMessage | None:
    """Return a message of the outbox if `user` may use its mailbox, else None."""
    return db.session.execute(
        select(OutgoingMessage).where(
            OutgoingMessage.id == outgoing_id, OutgoingMessage.mailbox_id.in_(readable_mailboxes(user))
        )
    ).scalar_one_or_none()


def prefill(message: Message, mode: str, own_address: str) -> Draft:
    """Return the draft of a reply, reply all or forward of `message`, sent from `own_address`."""
    raw = db.session.get(MessageContent, message.content_id).raw
    original = message_from_bytes(raw, policy=email.policy.default)
    subject = PREFIX.sub("", message.subject or "").strip()
    sender = message.from_address
    when = format_datetime(message.date or message.internaldate)
    text = _plain_text(original)
    draft = Draft()
    if mode == FORWARD:
        draft.subject = f"Fwd: {subject}"
        header = (
            f"---------- Forwarded message ----------\nFrom: {message.from_name or ''} <{sender}>\n"
            f"Date: {when}\nSubject: {message.subject}\nTo: {message.to_text}\n"
        )
        draft.body = f"\n\n{header}\n{text}"
        draft.attachments = _attachments_of(original)
        return draft
    draft.subject = f"Re: {subject}"
    reply_to = [address for _, address in getaddresses(original.get_all("Reply-To", []))] or [sender]
    own = own_address.lower()
    draft.to = [address for address in reply_to if address and address.lower() != own] or reply_to
    if mode == REPLY_ALL:
        seen = {address.lower() for address in draft.to} | {own}
        for address in [*message.to_addresses, *message.cc_addresses]:
            if address and address.lower() not in seen:
                seen.add(address.lower())
                draft.cc.append(address)
    if message.message_id:
        draft.in_reply_to = f"<{message.message_id.strip('<>')}>"
        references = (message.references or "").split()
        draft.references = " ".join([*references, draft.in_reply_to])
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    draft.body = f"\n\nOn {when}, {message.from_name or sender} wrote:\n{quoted}\n"
    return draft


def build(mailbox: Mailbox, draft: Draft, sender_name: str = "") -> tuple[bytes, str]:
    """Return the MIME message of the draft sent from the mailbox, and its Message-ID."""
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = f"{sender_name} <{mailbox.address}>" if sender_name else mailbox.address
    if draft.to:
        mail["To"] = ", ".join(draft.to)
    if draft.cc:
        mail["Cc"] = ", ".join(draft.cc)
    mail["Subject"] = draft.subject
    mail["Date"] = format_datetime(utcnow())
    domain = mailbox.address.rpartition("@")[2] or None
    message_id = make_msgid(domain=domain)
    mail["Message-ID"] = message_id
    if draft.in_reply_to:
        mail["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        mail["References"] = draft.references
    mail.set_content(draft.body or "")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return mail.as_bytes(), message_id


def store(user: SignedInUser, mailbox: Mailbox, draft: Draft, purpose: str = COMPOSED) -> OutgoingMessage:
    """Build the draft and store it in the outbox, queued, committed."""
    raw, message_id = build(mailbox, draft, sender_name=mailbox.label if mailbox.kind == SYSTEM else "")
    outgoing = OutgoingMessage(
        mailbox_id=mailbox.id,
        sender_id=user.id,
        purpose=purpose,
        message_id=message_id.strip("<>"),
        in_reply_to=draft.in_reply_to,
        subject=draft.subject,
        recipients=[*draft.to, *draft.cc, *draft.bcc],
        raw=raw,
        state=QUEUED,
        attempts=0,
    )
    db.session.add(outgoing)
    db.session.commit()
    return outgoing


def round_trip_draft(mailbox: Mailbox) -> Draft:
    """Return the draft of "Send a test message to myself": from the mailbox to its own address."""
    return Draft(
        to=[mailbox.address],
        subject="oroflask test message",
        body="This message was sent to check that this mailbox sends and receives mail. It can be deleted.",
    )


def finished(outgoing: OutgoingMessage) -> bool:
    """Tell whether nothing more will happen to the message (the poller stops then)."""
    if outgoing.state == FAILED:
        return True
    if outgoing.state != SENT:
        return False
    return outgoing.purpose != ROUND_TRIP or outgoing.round_trip_seconds is not None or bool(outgoing.note)


def deliver(outgoing_id: int) -> float | None:
    """Send one message of the outbox; return the seconds after which to try again, or None when done."""
    outgoing = db.session.get(OutgoingMessage, outgoing_id)
    if outgoing is None:
        return None
    if not _claim(outgoing):
        db.session.refresh(outgoing)
        return _not_claimed(outgoing)
    mailbox = db.session.get(Mailbox, outgoing.mailbox_id)
    settings = current_app.config
    started = time.monotonic()
    refreshed = False
    while True:
        try:
            if mailbox.grant_id is None:
                raise tokens.ReconnectNeeded(mailbox.grant_ended_reason or "the mailbox is not connected")
            access_token = tokens.access_token(mailbox.grant_id)
            send_message(
                config.mail_endpoint(settings, "SMTP"),
                mailbox.address,
                access_token,
                outgoing.raw,
                outgoing.recipients,
                ca_file=settings["MAIL_CA_FILE"] or None,
            )
        except MailServerError as error:
            db.session.rollback()
            if error.kind == "smtp_auth_failed" and not refreshed:
                # The token may have been revoked since it was issued: a fresh one decides.
                refreshed = True
                try:
                    tokens.refresh_now(mailbox.grant_id)
                except EXPLAINED as refresh_error:
                    return _failed(outgoing, refresh_error)
                continue
            if error.kind in TEMPORARY_KINDS and outgoing.attempts < MAX_ATTEMPTS:
                return _retry_later(outgoing, error)
            return _failed(outgoing, error)
        except EXPLAINED as error:
            db.session.rollback()
            return _failed(outgoing, error)
        break
    outgoing.state = SENT
    outgoing.sent_at = utcnow()
    outgoing.next_attempt_at = None
    _record(outgoing, None)
    db.session.commit()
    current_app.logger.info("Sent message %s from %s", outgoing.id, mailbox.address)
    notes = []
    if settings["SENT_COPY"] == "append":
        notes.append(_append_sent_copy(mailbox, outgoing))
    if outgoing.purpose == ROUND_TRIP:
        arrival = _wait_for_arrival(mailbox, outgoing, started)
        if arrival:
            notes.append(arrival)
    outgoing.note = " ".join(note for note in notes if note) or None
    db.session.commit()
    return None


def _claim(outgoing: OutgoingMessage) -> bool:
    """Move the message from queued to sending, if it is due and the mailbox is under its rate limit."""
    # Two workers claiming for one mailbox at once would each count the other's send out: the
    # mailbox's row stays locked until this claim commits (PostgreSQL; SQLite has no row locks, but
    # its UPDATE holds the database's write lock from before it counts until the commit).
    db.session.execute(select(Mailbox.id).where(Mailbox.id == outgoing.mailbox_id).with_for_update())
    now = utcnow()
    recent = (
        select(func.count(OutgoingMessage.id))
        .where(OutgoingMessage.mailbox_id == outgoing.mailbox_id, OutgoingMessage.started_at > now - WINDOW)
        .scalar_subquery()
    )
    claimed = db.session.execute(
        update(OutgoingMessage)
        .where(
            OutgoingMessage.id == outgoing.id,
            OutgoingMessage.state == QUEUED,
            (OutgoingMessage.next_attempt_at.is_(None)) | (OutgoingMessage.next_attempt_at <= now),
            recent < PER_MINUTE,
        )
        .values(state=SENDING, started_at=now, attempts=OutgoingMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return False
    db.session.refresh(outgoing)
    return True


def _not_claimed(outgoing: OutgoingMessage) -> float | None:
    now = utcnow()
    if outgoing.state == QUEUED:
        if outgoing.next_attempt_at is not None and outgoing.next_attempt_at > now:
            return (outgoing.next_attempt_at - now).total_seconds()
        oldest = db.session.execute(
            select(func.min(OutgoingMessage.started_at)).where(
                OutgoingMessage.mailbox_id == outgoing.mailbox_id, OutgoingMessage.started_at > now - WINDOW
            )
        ).scalar_one()
        return max(1.0, ((oldest + WINDOW) - now).total_seconds()) if oldest else 1.0
    if outgoing.state == SENDING and outgoing.started_at < now - INTERRUPTED_AFTER:
        outgoing.state = FAILED
        outgoing.error_title = "Sending was interrupted"
        outgoing.error_cause = (
            "The worker stopped while it was handing the message to the mail server: it may or may "
            "not have been sent, and it is not sent again so that no one gets it twice."
        )
        outgoing.error_action = "Look for it in Sent Items or ask a recipient; send it again if it did not arrive."
        db.session.commit()
    return None


def _retry_later(outgoing: OutgoingMessage, error: MailServerError) -> float:
    wait = max(error.retry_after or 0, FIRST_RETRY_SECONDS * 2 ** (outgoing.attempts - 1))
    outgoing.state = QUEUED
    outgoing.next_attempt_at = utcnow() + timedelta(seconds=wait)
    _record(outgoing, error)
    db.session.commit()
    current_app.logger.info("Message %s: %s; again in %s s", outgoing.id, error.kind, wait)
    return float(wait)


def _failed(outgoing: OutgoingMessage, error: BaseException) -> None:
    outgoing.state = FAILED
    _record(outgoing, error)
    db.session.commit()
    current_app.logger.info("Message %s not sent: %s", outgoing.id, explain(error).summary)
    return None


def _record(outgoing: OutgoingMessage, error: BaseException | None) -> None:
    if error is None:
        outgoing.error_title = outgoing.error_cause = outgoing.error_action = None
        outgoing.error_code = outgoing.error_server_said = None
        return
    explained = explain(error, again="Send it again.", button="Reconnect")
    outgoing.error_title = (explained.title or explained.action)[:300]
    outgoing.error_cause = explained.cause or None
    outgoing.error_action = explained.action or None
    outgoing.error_code = (explained.code or "")[:64] or None
    outgoing.error_server_said = explained.server_said


def _session(mailbox: Mailbox) -> ImapSession:
    return open_imap(mailbox.address, tokens.access_token(mailbox.grant_id))


def _sent_folder(mailbox: Mailbox) -> str:
    for folder in mailbox.listed_folders or ():
        if folder.get("special") == "sent":
            return folder["name"]
    return SENT_FOLDER


def _append_sent_copy(mailbox: Mailbox, outgoing: OutgoingMessage) -> str:
    """Append the sent message to the mailbox's Sent folder; return a note of a failure, else ""."""
    folder = _sent_folder(mailbox)
    try:
        with _session(mailbox) as session:
            session.append(folder, ("\\Seen",), outgoing.sent_at, outgoing.raw)
    except EXPLAINED as error:
        return f"No copy was saved in {folder}: {explain(error).summary}."
    return ""


def _wait_for_arrival(mailbox: Mailbox, outgoing: OutgoingMessage, started: float) -> str:
    """Watch the Inbox for the test message; record the round trip's seconds, or say why not."""
    deadline = started + ROUND_TRIP_DEADLINE_SECONDS
    criteria = f'HEADER Message-ID "<{outgoing.message_id}>"'
    try:
        with _session(mailbox) as session:
            while True:
                session.select("INBOX")
                if session.search(criteria):
                    outgoing.round_trip_seconds = round(time.monotonic() - started, 2)
                    return ""
                if time.monotonic() > deadline:
                    return f"It had not arrived in the Inbox after {ROUND_TRIP_DEADLINE_SECONDS} seconds."
                time.sleep(ROUND_TRIP_STEP_SECONDS)
    except EXPLAINED as error:
        return f"Its arrival could not be watched for: {explain(error).summary}."


def _plain_text(original) -> str:
    body = original.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        text = body.get_content()
    except (LookupError, ValueError):
        return ""
    if body.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", "", text)
    return text.strip()


def _attachments_of(original) -> list[Attachment]:
    found = []
    for part in original.iter_attachments():
        data = part.get_payload(decode=True)
        if data is not None:
            found.append(Attachment(part.get_filename() or "attachment", part.get_content_type(), data))
    return found
