"""My mailbox without HTTP: the gate, connecting through a Microsoft sign-in or the site's
connection, Check connection over IMAP and SMTP, the folders chosen and disconnecting."""

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select

from .. import audit, config, mailservers
from ..audit.models import CONNECTION
from ..auth.access import SignedInUser
from ..connection import service as connection_service
from ..connection import tokens
from ..connection.models import FAILED, MAILBOX, SITE, SUCCEEDED, AuthorizationAttempt, MicrosoftGrant
from ..database import utcnow
from ..extensions import db
from ..failures import EXPLAINED, Explanation, explain
from ..microsoft import identity
from ..settings import service as settings_service
from .models import CHECK_FAILED, CHECK_PASSED, PERSONAL, Mailbox

SYNC_FROM_DAYS = 30
# Ticked in the folder chooser until the owner saves a choice.
DEFAULT_ROLES = ("inbox", "sent")
SHARED_GRANT_REMOVED = (
    "The connection made with Enable, which this mailbox used, was disabled or replaced. "
    "Connect the mailbox again."
)


@dataclass(frozen=True)
class MailboxView:
    """What My mailbox shows of a connected mailbox."""

    mailbox: Mailbox
    state: str  # "connected" or "reconnect_needed"
    reason: str | None
    scopes: tuple[str, ...]
    shares_site_grant: bool  # it uses the connection made with Enable


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
    grant = db.session.get(MicrosoftGrant, mailbox.grant_id) if mailbox.grant_id else None
    if grant is None:
        return MailboxView(mailbox, "reconnect_needed", SHARED_GRANT_REMOVED, (), False)
    reason = grant.reconnect_reason
    if not reason and grant.account.casefold() != mailbox.address.casefold():
        # The site's grant that it shares was signed in again with another account.
        reason = f"The connection made with Enable now signs in as {grant.account}. {SHARED_GRANT_REMOVED}"
    return MailboxView(
        mailbox,
        "reconnect_needed" if reason else "connected",
        reason,
        tuple(grant.scopes.split()),
        grant.purpose == SITE,
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
    own_grant = _own_grant(mailbox)
    return connection_service.start(
        user,
        redirect_uri,
        purpose=MAILBOX,
        grant_id=own_grant.id if own_grant else None,
        expected_account=mailbox.address if mailbox is not None and not replace else None,
    )


def use_site_grant(user: SignedInUser) -> Mailbox | None:
    """Point the user's mailbox at the site's connection they made; None when it is not offered."""
    account = site_grant_offer(user)
    if account is None:
        return None
    site = connection_service.site_grant()
    mailbox = personal_mailbox(user.id)
    own_grant = _own_grant(mailbox)
    if own_grant is not None:
        db.session.delete(own_grant)
    mailbox = _connected(user, mailbox, account, site.id)
    audit.record(user, CONNECTION, _subject(mailbox), "connected with the connection made with Enable")
    db.session.commit()
    return mailbox


def disconnect(user: SignedInUser) -> bool:
    """Delete the user's mailbox and its own grant (the site's connection stays); False when none."""
    mailbox = personal_mailbox(user.id)
    if mailbox is None:
        return False
    own_grant = _own_grant(mailbox)
    if own_grant is not None:
        db.session.delete(own_grant)
    db.session.delete(mailbox)
    audit.record(user, CONNECTION, _subject(mailbox), "disconnected; its tokens were deleted")
    db.session.commit()
    return True


def check(mailbox: Mailbox) -> CheckResult:
    """Sign in to the mailbox over IMAP (listing its folders), then over SMTP; store the outcome.

    Runs in the request: each protocol is bounded by the mail checks' total deadline.
    """
    try:
        if mailbox.grant_id is None:
            raise tokens.ReconnectNeeded(SHARED_GRANT_REMOVED)
        access_token = tokens.access_token(mailbox.grant_id)
    except EXPLAINED as error:
        db.session.rollback()
        return _record(mailbox, CheckResult(token_problem=explain(error, again="Click Check connection again.")))
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
    connection_service.register_completion(MAILBOX, _complete_sign_in, "mailboxes.show", "My mailbox")


def _complete_sign_in(user: SignedInUser, attempt: AuthorizationAttempt, granted: identity.Grant) -> None:
    """Store what the mailbox's sign-in granted as its own grant; a reconnect must be the same account."""
    account = (granted.account or "")[:254]
    expected = attempt.expected_account
    if expected and account.casefold() != expected.casefold():
        connection_service.finish(
            attempt,
            FAILED,
            title=f"You signed in as {account}, but this mailbox is {expected}",
            action=f"Reconnect and sign in as {expected}; to connect {account} instead, "
            "use Replace with another account.",
        )
        return
    mailbox = personal_mailbox(user.id)
    grant = _own_grant(mailbox) or MicrosoftGrant(purpose=MAILBOX)
    if not connection_service.store_grant(user, attempt, granted, grant):
        return
    mailbox = _connected(user, mailbox, grant.account, grant.id)
    audit.record(user, CONNECTION, _subject(mailbox), f"connected as {grant.account}")
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
    mailbox.connected_at = utcnow()
    return mailbox


def _own_grant(mailbox: Mailbox | None) -> MicrosoftGrant | None:
    """Return the mailbox's own grant; None when it has none or shares the site's."""
    if mailbox is None or mailbox.grant_id is None:
        return None
    grant = db.session.get(MicrosoftGrant, mailbox.grant_id)
    return grant if grant is not None and grant.purpose == MAILBOX else None


def _record(mailbox: Mailbox, result: CheckResult) -> CheckResult:
    passed = result.token_problem is None and result.imap.problem is None and result.smtp.problem is None
    mailbox.checked_at = utcnow()
    mailbox.check_outcome = CHECK_PASSED if passed else CHECK_FAILED
    db.session.commit()
    return result


def _subject(mailbox: Mailbox) -> str:
    return f"mailbox {mailbox.address}"


def _tree_order(entry: dict) -> tuple:
    # Inbox first, then the other folders by name, each parent before its children.
    delimiter = entry["delimiter"]
    parts = entry["name"].split(delimiter) if delimiter else [entry["name"]]
    return (parts[0].upper() != "INBOX", [part.casefold() for part in parts])
