"""Mailboxes without HTTP: the gate, My mailbox connected through a Microsoft sign-in or the site's
connection, what a mailbox's page shows of it, Check connection over IMAP and SMTP (in the
worker), the folders chosen, disconnecting, and grants ended with the account that made them.

System mailboxes (admins add them, and choose their readers) are in system_service.
"""

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from .. import audit, config, mailservers
from ..audit.models import CONNECTION
from ..auth.access import SignedInUser
from ..connection import service as connection_service
from ..connection import tokens
from ..connection.models import MAILBOX, SITE, SUCCEEDED, AuthorizationAttempt, MicrosoftGrant
from ..database import utcnow
from ..extensions import db
from ..failures import EXPLAINED, Explanation, explain
from ..microsoft import identity
from ..settings import service as settings_service
from .models import CHECK_FAILED, CHECK_PASSED, CHECK_RUNNING, PERSONAL, SYSTEM, Mailbox

SYNC_FROM_DAYS = 30
# Ticked in the folder chooser until the owner saves a choice.
DEFAULT_ROLES = ("inbox", "sent")
SHARED_GRANT_REMOVED = (
    "The connection made with Enable, which this mailbox used, was disabled or replaced. "
    "Connect the mailbox again."
)
# A check queued this long ago and not finished: the worker is not running, or is stuck.
CHECK_OVERDUE = timedelta(minutes=2)


@dataclass(frozen=True)
class MailboxView:
    """What a mailbox's page shows of it."""

    mailbox: Mailbox
    state: str  # "connected", "reconnect_needed" or (a system mailbox just added) "not_connected"
    reason: str | None
    scopes: tuple[str, ...]
    shares_site_grant: bool  # it uses the connection made with Enable
    signed_in_as: str | None = None  # the account whose token opens it
    delegate: bool = False  # that account is not the mailbox's own: it has Full Access to it


@dataclass(frozen=True)
class ProtocolResult:
    """One protocol's part of Check connection: what it found, or what went wrong."""

    protocol: str
    summary: str | None = None
    problem: Explanation | None = None


@dataclass(frozen=True)
class CheckResult:
    """Check connection: the access token's problem, or each protocol's result."""

    token_problem: Explanation | None = None
    imap: ProtocolResult | None = None
    smtp: ProtocolResult | None = None


@dataclass(frozen=True)
class FolderChoice:
    """One folder of the chooser: its name, how deep it sits, its role, and whether it is ticked."""

    name: str
    label: str
    depth: int
    special: str | None
    selectable: bool
    chosen: bool


def open_imap(address: str, access_token: str, settings=None) -> mailservers.ImapSession:
    """Connect and sign in to a mailbox's IMAP server (Exchange Online, or MICROSOFT_IMAP_*) with
    `access_token`; `settings` are the application's (the current one's by default)."""
    settings = settings if settings is not None else current_app.config
    return mailservers.ImapSession(
        config.mail_endpoint(settings, "IMAP"), address, access_token, ca_file=settings["MAIL_CA_FILE"] or None
    )


def gate_closed() -> bool:
    """Tell whether mailboxes cannot be connected: the site's connection is missing, dead or sync is off."""
    settings = settings_service.load()
    view = connection_service.view(settings)
    return view.state != "connected" or not view.sync_enabled


def personal_mailbox(user_id: int) -> Mailbox | None:
    """Return the user's personal mailbox, or None."""
    return db.session.execute(
        select(Mailbox).where(Mailbox.kind == PERSONAL, Mailbox.owner_id == user_id)
    ).scalar_one_or_none()


def describe(mailbox: Mailbox) -> MailboxView:
    """Describe the mailbox for its page, deriving "reconnect needed" from its grant."""
    return view_of(mailbox, db.session.get(MicrosoftGrant, mailbox.grant_id) if mailbox.grant_id else None)


def view_of(mailbox: Mailbox, grant: MicrosoftGrant | None) -> MailboxView:
    """Describe the mailbox with its grant (None: it has none), as loaded by the caller."""
    if grant is None:
        if mailbox.kind == SYSTEM and not mailbox.grant_ended_reason:
            return MailboxView(mailbox, "not_connected", None, (), False)
        return MailboxView(mailbox, "reconnect_needed", mailbox.grant_ended_reason or SHARED_GRANT_REMOVED, (), False)
    reason = grant.reconnect_reason
    other_account = grant.account.casefold() != mailbox.address.casefold()
    if not reason and other_account and grant.purpose == SITE:
        # The site's grant that it shares was signed in again with another account.
        reason = f"The connection made with Enable now signs in as {grant.account}. {SHARED_GRANT_REMOVED}"
    return MailboxView(
        mailbox,
        "reconnect_needed" if reason else "connected",
        reason,
        tuple(grant.scopes.split()),
        grant.purpose == SITE,
        signed_in_as=grant.account,
        # A mailbox's own grant signed in with another account: a delegate of a shared mailbox.
        delegate=other_account and grant.purpose == MAILBOX,
    )


def site_grant_offer(user: SignedInUser) -> str | None:
    """Return the account of the site's connection when `user` made it and may use it for their mailbox."""
    if gate_closed():
        return None
    site = connection_service.site_grant()
    if site is None or site.user_id != user.id:
        return None
    mailbox = personal_mailbox(user.id)
    if mailbox is not None and (
        mailbox.grant_id == site.id or mailbox.address.casefold() != site.account.casefold()
    ):
        return None
    return site.account


def start_connect(user: SignedInUser, redirect_uri: str, replace: bool) -> AuthorizationAttempt:
    """Record a sign-in for the user's mailbox: a reconnect must be made with the mailbox's account,
    unless `replace` says that another account replaces it."""
    mailbox = personal_mailbox(user.id)
    grant = own_grant(mailbox)
    return connection_service.start(
        user,
        redirect_uri,
        purpose=MAILBOX,
        grant_id=grant.id if grant else None,
        expected_account=mailbox.address if mailbox is not None and not replace else None,
    )


def use_site_grant(user: SignedInUser) -> Mailbox | None:
    """Point the user's mailbox at the site's connection they made; None when it is not offered."""
    account = site_grant_offer(user)
    if account is None:
        return None
    site = connection_service.site_grant()
    mailbox = personal_mailbox(user.id)
    grant = own_grant(mailbox)
    if grant is not None:
        db.session.delete(grant)
    mailbox = _connected(user, mailbox, account, site.id)
    audit.record(user, CONNECTION, subject(mailbox), "connected with the connection made with Enable")
    db.session.commit()
    return mailbox


def disconnect(user: SignedInUser) -> bool:
    """Delete the user's mailbox and its own grant (the site's connection stays); False when none."""
    mailbox = personal_mailbox(user.id)
    if mailbox is None:
        return False
    grant = own_grant(mailbox)
    if grant is not None:
        db.session.delete(grant)
    db.session.delete(mailbox)
    audit.record(user, CONNECTION, subject(mailbox), "disconnected; its tokens were deleted")
    db.session.commit()
    return True


def mark_check_queued(mailbox: Mailbox) -> None:
    """Record that Check connection waits for the worker; the page follows this state."""
    mailbox.check_outcome = CHECK_RUNNING
    mailbox.check_results = None
    mailbox.checked_at = utcnow()
    db.session.commit()


def check(mailbox: Mailbox) -> CheckResult:
    """Sign in to the mailbox over IMAP (listing its folders), then over SMTP; store the outcome.

    The worker runs it: each protocol is bounded by the mail checks' total deadline.
    """
    try:
        if mailbox.grant_id is None:
            raise tokens.ReconnectNeeded(mailbox.grant_ended_reason or SHARED_GRANT_REMOVED)
        access_token = tokens.access_token(mailbox.grant_id)
    except EXPLAINED as error:
        db.session.rollback()
        problem = explain(error, again="Click Check connection again.", button="Reconnect")
        return _record(mailbox, CheckResult(token_problem=problem))
    settings = current_app.config
    ca_file = settings["MAIL_CA_FILE"] or None
    try:
        found = mailservers.check_imap(
            config.mail_endpoint(settings, "IMAP"), mailbox.address, access_token, ca_file=ca_file
        )
    except mailservers.MailServerError as error:
        imap = ProtocolResult("IMAP", problem=explain(error))
    else:
        count = len(found.folders)
        imap = ProtocolResult("IMAP", f"Signed in; {count} folder{'' if count == 1 else 's'}.")
        mailbox.listed_folders = [
            {"name": f.name, "delimiter": f.delimiter, "special": f.special, "selectable": f.selectable}
            for f in found.folders
        ]
    try:
        mailservers.check_smtp(
            config.mail_endpoint(settings, "SMTP"), mailbox.address, access_token, ca_file=ca_file
        )
    except mailservers.MailServerError as error:
        smtp = ProtocolResult("SMTP", problem=explain(error))
    else:
        smtp = ProtocolResult("SMTP", "Signed in; nothing was sent.")
    return _record(mailbox, CheckResult(imap=imap, smtp=smtp))


def check_result(mailbox: Mailbox) -> CheckResult | None:
    """Return the result of the mailbox's last finished check, as stored; None while none."""
    stored = mailbox.check_results
    if mailbox.check_outcome not in (CHECK_PASSED, CHECK_FAILED) or not stored:
        return None
    return CheckResult(
        token_problem=_explanation(stored.get("token_problem")),
        imap=_protocol_result(stored.get("imap")),
        smtp=_protocol_result(stored.get("smtp")),
    )


def check_overdue(mailbox: Mailbox, now: datetime | None = None) -> bool:
    """Tell whether a queued check has waited too long: the worker is not running or is stuck."""
    return (
        mailbox.check_outcome == CHECK_RUNNING
        and mailbox.checked_at is not None
        and (now or utcnow()) - mailbox.checked_at > CHECK_OVERDUE
    )


def end_grants_of(actor: SignedInUser | None, user_id: int, email: str) -> None:
    """End what a deactivated account signed in for: its mailbox's and each system mailbox's tokens
    are deleted, and those mailboxes show Reconnect needed with the reason. Uncommitted."""
    personal = personal_mailbox(user_id)
    if personal is not None and personal.grant_id is not None:
        _end_grant(
            actor,
            personal,
            f"The account {email} was deactivated, so this mailbox's tokens were deleted. "
            "Once the account is active again, its owner reconnects it.",
        )
    signed_for = db.session.execute(
        select(Mailbox)
        .join(MicrosoftGrant, MicrosoftGrant.id == Mailbox.grant_id)
        .where(Mailbox.kind == SYSTEM, MicrosoftGrant.user_id == user_id, MicrosoftGrant.purpose == MAILBOX)
    ).scalars()
    for mailbox in list(signed_for):
        _end_grant(
            actor,
            mailbox,
            f"{email}, who connected it, was deactivated in oroflask, so its tokens were deleted. "
            "An administrator connects it again, as the mailbox or as an account with Full Access to it.",
        )


def _end_grant(actor: SignedInUser | None, mailbox: Mailbox, reason: str) -> None:
    grant = own_grant(mailbox)
    mailbox.grant_id = None
    mailbox.grant_ended_reason = reason[:500]
    if grant is not None:
        db.session.delete(grant)
    audit.record(actor, CONNECTION, subject(mailbox), f"reconnect needed: {reason}")


def folder_choices(mailbox: Mailbox, chosen: list[str] | None = None) -> list[FolderChoice]:
    """Return the folders of the last passed check in tree order, ticked as chosen (or by default)."""
    if chosen is None:
        chosen = mailbox.folders
    listed = mailbox.listed_folders or []
    if chosen is None:
        chosen = [entry["name"] for entry in listed if entry["special"] in DEFAULT_ROLES and entry["selectable"]]
    choices = []
    for entry in sorted(listed, key=_tree_order):
        delimiter = entry["delimiter"]
        parts = entry["name"].split(delimiter) if delimiter else [entry["name"]]
        choices.append(
            FolderChoice(
                name=entry["name"],
                label="Inbox" if entry["special"] == "inbox" else parts[-1],
                depth=len(parts) - 1,
                special=entry["special"],
                selectable=entry["selectable"],
                chosen=entry["selectable"] and entry["name"] in chosen,
            )
        )
    return choices


def selectable_folders(mailbox: Mailbox) -> tuple[str, ...]:
    """Return the names of the folders that may be chosen: the selectable ones of the last check."""
    return tuple(entry["name"] for entry in mailbox.listed_folders or () if entry["selectable"])


def default_sync_from(today: date | None = None) -> date:
    """Return the day sync starts from unless the owner chooses: 30 days back."""
    return (today or utcnow().date()) - timedelta(days=SYNC_FROM_DAYS)


def save_folders(mailbox: Mailbox, folders: list[str], sync_from: date | None) -> None:
    """Store the folders to sync, in the chooser's order, and the day to sync from (None: everything)."""
    mailbox.folders = [choice.name for choice in folder_choices(mailbox, folders) if choice.chosen]
    mailbox.sync_from = sync_from
    db.session.commit()


def register() -> None:
    """Let the Microsoft sign-ins of mailboxes be completed here and shown on My mailbox."""
    connection_service.register_completion(
        MAILBOX, _complete_sign_in, "mailboxes.show", "My mailbox", wrong_account=_wrong_account
    )


def _wrong_account(attempt: AuthorizationAttempt, account: str) -> tuple[str, str]:
    """Say that a reconnect of the user's mailbox was signed in with another account than the mailbox's."""
    expected = attempt.expected_account
    return (
        f"You signed in as {account}, but this mailbox is {expected}",
        f"Reconnect and sign in as {expected}; to connect {account} instead, use Replace with another account.",
    )


def _complete_sign_in(user: SignedInUser, attempt: AuthorizationAttempt, granted: identity.Grant) -> None:
    """Store what the mailbox's sign-in granted as its own grant."""
    mailbox = personal_mailbox(user.id)
    grant = own_grant(mailbox) or MicrosoftGrant(purpose=MAILBOX)
    if not connection_service.store_grant(user, attempt, granted, grant):
        return
    mailbox = _connected(user, mailbox, grant.account, grant.id)
    audit.record(user, CONNECTION, subject(mailbox), f"connected as {grant.account}")
    connection_service.finish(attempt, SUCCEEDED)


def _connected(user: SignedInUser, mailbox: Mailbox | None, address: str, grant_id: int) -> Mailbox:
    """Point the user's mailbox (made if missing) at the grant; another address starts afresh."""
    if mailbox is None:
        mailbox = Mailbox(kind=PERSONAL, owner_id=user.id, address=address)
        db.session.add(mailbox)
    elif mailbox.address.casefold() != address.casefold():
        mailbox.folders = mailbox.sync_from = mailbox.listed_folders = None
        mailbox.checked_at = mailbox.check_outcome = None
    mailbox.address = address
    mailbox.label = address[:100]
    mailbox.grant_id = grant_id
    mailbox.grant_ended_reason = None
    mailbox.connected_at = utcnow()
    return mailbox


def own_grant(mailbox: Mailbox | None) -> MicrosoftGrant | None:
    """Return the mailbox's own grant; None when it has none or shares the site's."""
    if mailbox is None or mailbox.grant_id is None:
        return None
    grant = db.session.get(MicrosoftGrant, mailbox.grant_id)
    return grant if grant is not None and grant.purpose == MAILBOX else None


def _record(mailbox: Mailbox, result: CheckResult) -> CheckResult:
    passed = result.token_problem is None and result.imap.problem is None and result.smtp.problem is None
    mailbox.checked_at = utcnow()
    mailbox.check_outcome = CHECK_PASSED if passed else CHECK_FAILED
    mailbox.check_results = {
        "token_problem": asdict(result.token_problem) if result.token_problem else None,
        "imap": asdict(result.imap) if result.imap else None,
        "smtp": asdict(result.smtp) if result.smtp else None,
    }
    db.session.commit()
    return result


def _explanation(stored: dict | None) -> Explanation | None:
    return Explanation(**stored) if stored else None


def _protocol_result(stored: dict | None) -> ProtocolResult | None:
    if not stored:
        return None
    return ProtocolResult(stored["protocol"], stored.get("summary"), _explanation(stored.get("problem")))


def subject(mailbox: Mailbox) -> str:
    """Name the mailbox in the audit log."""
    return f"{'system ' if mailbox.kind == SYSTEM else ''}mailbox {mailbox.address}"


def _tree_order(entry: dict) -> tuple:
    # Inbox first, then the other folders by name, each parent before its children.
    delimiter = entry["delimiter"]
    parts = entry["name"].split(delimiter) if delimiter else [entry["name"]]
    return (parts[0].upper() != "INBOX", [part.casefold() for part in parts])
