"""One sync pass of a mailbox: its chosen folders brought in step with the IMAP server.

Per folder: a changed UIDVALIDITY re-maps the stored messages instead of downloading them again;
a chosen folder gone from LIST is looked for under a new name with the same UIDVALIDITY; flags
come by CHANGEDSINCE when the server advertises CONDSTORE, else by a full flag scan compared with
what is stored; stored UIDs the server no longer has are removed; new mail is downloaded with the
session's pipelined fetch and stored batch by batch, each batch committed with the folder state
that describes it, so that a pass killed midway loses nothing and downloads nothing twice.

A mailbox is never synced by two workers at once: the pass holds the task queue's lock for it
(a Redis key, or a row of the SQLite queue), and a second caller is told it is already running.
"""

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from huey.exceptions import TaskLockedException
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from ..connection import tokens
from ..connection.models import MicrosoftGrant
from ..database import utcnow
from ..extensions import db
from ..failures import EXPLAINED, Explanation, Failure, explain
from ..mailboxes.models import Mailbox
from ..mailboxes.service import open_imap
from ..mailservers import FolderState, ImapSession, MailServerError
from ..mailstore import store
from ..worker import queue_of
from .models import MailboxSync

# Failures of the network that a new connection may not meet: retried with a growing pause.
NETWORK_KINDS = {"timeout", "connection_closed", "network", "connection_refused"}
NETWORK_TRIES = 4
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
# A server that asks for a longer pause than this is left until the next pass.
THROTTLE_MAX_SECONDS = 120
THROTTLE_TRIES = 3
# A running pass beats at every batch and folder, seconds apart: one silent this long has died.
DEAD_LOCK_AFTER = timedelta(minutes=15)
NO_FOLDERS = "No folders are chosen for this mailbox yet: nothing was synced."
# A kept session unused this long is signed out rather than used: servers end silent sessions
# after 30 minutes (RFC 9051's autologout; Dovecot and Exchange alike).
KEPT_SESSION_IDLE_LIMIT = timedelta(minutes=20)


class AlreadyRunning(Failure):
    """Another worker (or command) is syncing this mailbox right now."""

    def __init__(self, address: str):
        super().__init__(f"{address} is being synced already", "Wait for that sync to finish.")


class NoSuchMailbox(Failure):
    """The mailbox is not stored (any more)."""

    def __init__(self, mailbox_id: int):
        super().__init__(f"There is no mailbox {mailbox_id}", "Check the mailbox's number.")


@dataclass
class FolderReport:
    """What one folder's sync did."""

    name: str
    fetched: int = 0
    bytes: int = 0
    flags_changed: int = 0
    removed: int = 0
    remapped: int = 0
    renamed_from: str | None = None
    missing: bool = False


@dataclass
class SyncReport:
    """What one pass did, in all and per folder; `commands` counts the IMAP commands sent by kind."""

    mailbox_id: int
    folders: list[FolderReport] = field(default_factory=list)
    note: str = ""
    condstore: bool = False
    attempts: int = 0
    commands: dict[str, int] = field(default_factory=dict)

    @property
    def fetched(self) -> int:
        """Return the bodies downloaded."""
        return sum(folder.fetched for folder in self.folders)

    @property
    def bytes(self) -> int:
        """Return the bytes of the bodies downloaded."""
        return sum(folder.bytes for folder in self.folders)

    @property
    def flags_changed(self) -> int:
        """Return the stored messages whose flags changed."""
        return sum(folder.flags_changed for folder in self.folders)

    @property
    def removed(self) -> int:
        """Return the stored messages removed (expunged or moved away on the server)."""
        return sum(folder.removed for folder in self.folders)


class KeptSession:
    """An IMAP session kept open from one pass to the next, so that a pass costs no connection and
    no sign-in (push keeps one per watched mailbox: a new message is stored sooner).

    A pass takes it as it is, or opens a new one when it is closed, failed, unused for
    KEPT_SESSION_IDLE_LIMIT, signed in with a token about to expire or with another connection's
    (the mailbox was reconnected). Used by one thread at a time.
    """

    def __init__(self):
        self.session: ImapSession | None = None
        self.opened = 0  # how many sessions it has opened
        self._grant_id: int | None = None
        self._retire_at = None
        self._used_at = None

    def take(self, mailbox: Mailbox) -> tuple[ImapSession, bool]:
        """Return the session to use for `mailbox`, and whether it was open already."""
        now = utcnow()
        kept = self.session
        if (
            kept is not None
            and kept.open
            and self._grant_id == mailbox.grant_id
            and now < self._retire_at
            and now - self._used_at < KEPT_SESSION_IDLE_LIMIT
        ):
            self._used_at = now
            return kept, True
        self.close()
        access_token = tokens.access_token(mailbox.grant_id)
        expires_at = db.session.get(MicrosoftGrant, mailbox.grant_id).access_token_expires_at
        self.session = open_imap(mailbox.address, access_token)
        self.opened += 1
        self._grant_id, self._retire_at, self._used_at = mailbox.grant_id, expires_at - tokens.REFRESH_MARGIN, now
        return self.session, False

    def close(self) -> None:
        """Sign the session out, if one is open."""
        kept, self.session = self.session, None
        if kept is not None:
            kept.close()


def sync_mailbox(
    mailbox_id: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    folders: Sequence[str] | None = None,
    kept: KeptSession | None = None,
    new_only: bool = False,
) -> SyncReport:
    """Bring the mailbox's chosen folders (or these of them) in step with the server; raise if it failed.

    `progress(done, total)` is called after each stored batch; total grows as folders are read.
    With `kept`, the pass uses (and leaves open) that session instead of a connection of its own.
    With `new_only`, it only downloads what arrived since the last pass (push): flag changes and
    removals wait for the next full pass, which reads the whole folder.
    """
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NoSuchMailbox(mailbox_id)
    lock = queue_of(current_app._get_current_object()).huey.lock_task(_lock_name(mailbox_id))
    try:
        lock.acquire()
    except TaskLockedException:
        if not _take_over_dead_lock(mailbox_id):
            raise AlreadyRunning(mailbox.address) from None
        lock.clear()
        try:
            lock.acquire()
        except TaskLockedException:
            raise AlreadyRunning(mailbox.address) from None
    try:
        return _sync_holding_lock(mailbox, progress, folders, kept, new_only)
    finally:
        lock.release()


def is_locked(mailbox_id: int) -> bool:
    """Tell whether a pass holds the mailbox's lock (one left by a dead pass counts until taken over)."""
    return queue_of(current_app._get_current_object()).huey.is_locked(_lock_name(mailbox_id))


def record_outside_pass(mailbox_id: int, error: BaseException) -> None:
    """Record a failure met outside a pass (the push's connection) as a pass records its own,
    leaving a running pass's progress and the next run as they are."""
    _store_explanation(sync_state(mailbox_id), explain(error))
    db.session.commit()


def _lock_name(mailbox_id: int) -> str:
    return f"sync-mailbox-{mailbox_id}"


def sync_state(mailbox_id: int) -> MailboxSync:
    """Return the mailbox's sync state, created (not committed) if it has none yet."""
    state = db.session.get(MailboxSync, mailbox_id)
    if state is None:
        state = MailboxSync(mailbox_id=mailbox_id, running=False, done=0, total=0, reconnect_needed=False)
        db.session.add(state)
    return state


def _take_over_dead_lock(mailbox_id: int) -> bool:
    """Tell whether the lock's pass stopped beating long ago, claiming its place if so.

    A worker killed outright (out of memory, a machine lost) never releases the queue's lock,
    which has no expiry on SQLite. The claim is a compare-and-swap on the heartbeat: of two
    callers that find the same dead lock, one wins.
    """
    now = utcnow()
    sync_state(mailbox_id)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another caller made the row at the same moment
    claimed = db.session.execute(
        update(MailboxSync)
        .where(
            MailboxSync.mailbox_id == mailbox_id,
            or_(MailboxSync.heartbeat_at.is_(None), MailboxSync.heartbeat_at < now - DEAD_LOCK_AFTER),
        )
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed == 1:
        current_app.logger.warning("The sync lock of mailbox %s was left by a stopped pass: taken over", mailbox_id)
    return claimed == 1


def _sync_holding_lock(
    mailbox: Mailbox, progress, folders: Sequence[str] | None, kept: KeptSession | None, new_only: bool
) -> SyncReport:
    report = SyncReport(mailbox.id)
    state = sync_state(mailbox.id)
    state.running, state.started_at, state.done, state.total = True, utcnow(), 0, 0
    state.heartbeat_at = state.started_at
    db.session.commit()
    try:
        _pass_with_retries(mailbox, state, report, progress, folders, kept, new_only)
    except EXPLAINED as error:
        db.session.rollback()
        _record_failure(mailbox.id, error)
        raise
    except BaseException:
        # A crash or a kill: what is committed stays, the state says the run ended.
        db.session.rollback()
        _finish(mailbox.id)
        raise
    state = sync_state(mailbox.id)
    state.succeeded_at = utcnow()
    state.error_title = state.error_cause = state.error_action = None
    state.error_code = state.error_server_said = None
    state.reconnect_needed = False
    # A pass of some folders (the push's Inbox) leaves the next pass of them all where it was.
    _finish(mailbox.id, state, schedule=folders is None)
    current_app.logger.info(
        "Synced %s: %d new (%d bytes), %d flags changed, %d removed",
        mailbox.address, report.fetched, report.bytes, report.flags_changed, report.removed,
    )
    return report


def _pass_with_retries(
    mailbox: Mailbox, state: MailboxSync, report: SyncReport, progress, folders, kept, new_only: bool
) -> None:
    if mailbox.folders is None:
        report.note = NO_FOLDERS
        return
    if mailbox.grant_id is None:
        raise tokens.ReconnectNeeded("the connection this mailbox used was removed")
    refreshed = False
    network_failures = throttled = 0
    while True:
        report.attempts += 1
        reused = False
        try:
            if kept is None:
                with open_imap(mailbox.address, tokens.access_token(mailbox.grant_id)) as session:
                    _one_pass(session, mailbox, state, report, progress, folders, new_only, Counter())
            else:
                session, reused = kept.take(mailbox)
                # A kept session's earlier commands (its sign-in among them) are not this pass's.
                earlier = session.commands.copy() if reused else Counter()
                try:
                    _one_pass(session, mailbox, state, report, progress, folders, new_only, earlier)
                except BaseException:
                    # Whatever stopped the pass may have left answers unread: never used again.
                    kept.close()
                    raise
            return
        except MailServerError as error:
            db.session.rollback()
            if reused and error.kind in NETWORK_KINDS:
                # The kept session died while unused (the server or the network ended it): a new
                # one is opened at once, as the pass would have done anyway.
                continue
            if error.kind == "imap_auth_failed" and not refreshed:
                # The token may have been revoked since it was issued: a fresh one decides.
                refreshed = True
                tokens.refresh_now(mailbox.grant_id)
                continue
            if error.kind == "imap_throttled" and throttled < THROTTLE_TRIES:
                wait = error.retry_after or 1
                if wait <= THROTTLE_MAX_SECONDS:
                    throttled += 1
                    current_app.logger.info("Sync of %s throttled: waiting %s s", mailbox.address, wait)
                    time.sleep(wait)
                    continue
            if error.kind in NETWORK_KINDS and network_failures < NETWORK_TRIES - 1:
                wait = min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2**network_failures)
                network_failures += 1
                current_app.logger.info("Sync of %s: %s; again in %s s", mailbox.address, error.kind, wait)
                time.sleep(wait)
                continue
            raise


def _one_pass(
    session: ImapSession,
    mailbox: Mailbox,
    state: MailboxSync,
    report: SyncReport,
    progress,
    only: Sequence[str] | None,
    new_only: bool,
    earlier: Counter[str],
) -> None:
    report.condstore = session.condstore
    try:
        chosen = [name for name in mailbox.folders if only is None or name in only]
        # New mail only: a folder renamed or gone is the full pass's to find.
        listed = None if new_only else {folder.name for folder in session.list_folders() if folder.selectable}
        report.folders = []
        for name in chosen:
            folder_report = FolderReport(name)
            report.folders.append(folder_report)
            if new_only:
                _download_new(session, mailbox, name, state, folder_report, progress)
            else:
                _sync_folder(session, mailbox, name, listed, state, folder_report, progress)
    finally:
        for command, count in (session.commands - earlier).items():
            report.commands[command] = report.commands.get(command, 0) + count


def _sync_folder(
    session: ImapSession,
    mailbox: Mailbox,
    name: str,
    listed: set[str],
    state: MailboxSync,
    report: FolderReport,
    progress,
) -> None:
    folder = store.folder(mailbox.id, name)
    if name not in listed:
        renamed = _find_renamed(session, mailbox, folder, listed)
        if renamed is None:
            # Kept with its mail: a folder deleted on the server is the owner's to unchoose.
            report.missing = True
            db.session.commit()
            return
        report.renamed_from, report.name = name, renamed
        store.rename_folder(folder, renamed)
        mailbox.folders = [renamed if chosen == name else chosen for chosen in mailbox.folders]
        db.session.commit()
        name = renamed
    server = session.select(name)
    new: list[int] | None = None
    if folder.uidvalidity is not None and folder.uidvalidity != server.uidvalidity:
        keys = session.remap_keys()
        stored_before = folder.message_count or 0
        new = store.remap(
            folder,
            server.uidvalidity,
            {uid: (key.message_id, key.internaldate, key.size) for uid, key in keys.items()},
        )
        report.remapped = stored_before
        if mailbox.sync_from:
            # Whatever older than "Sync from" the server holds was never wanted.
            new = sorted(set(new) & set(session.search_since(mailbox.sync_from)))
        db.session.commit()
    elif folder.uidvalidity is None:
        folder.uidvalidity = server.uidvalidity
    by_changes = bool(session.condstore and folder.highestmodseq and server.highestmodseq)
    # A full flag scan compares with the stored flags: one read of the folder gives both.
    known = None if by_changes else store.stored_flags(folder)
    stored = store.stored_uids(folder) if known is None else set(known)
    on_server: set[int] | None = None
    if stored:
        on_server = _flags_and_removals(session, folder, server, stored, known, report)
    if new is None:
        new = _new_uids(session, mailbox, folder, stored, on_server)
    _download(session, folder, new, state, report, progress)
    if server.uidnext and (folder.uidnext is None or folder.uidnext < server.uidnext):
        folder.uidnext = server.uidnext
    folder.highestmodseq = server.highestmodseq
    folder.synced_at = state.heartbeat_at = utcnow()
    db.session.commit()


def _download_new(
    session: ImapSession, mailbox: Mailbox, name: str, state: MailboxSync, report: FolderReport, progress
) -> None:
    """Download what arrived in the folder since its last pass, the rest of it left as it is."""
    folder = store.folder(mailbox.id, name)
    server = session.select(name)
    if folder.uidnext is None or folder.uidvalidity != server.uidvalidity:
        # Never synced, or its UIDs changed: only the whole folder's sync knows what to do.
        _sync_folder(session, mailbox, name, {name}, state, report, progress)
        return
    if server.uidnext is not None and server.uidnext <= folder.uidnext:
        return
    # Those stored already came in a pass stopped before it could move the folder's UIDNEXT on.
    stored = store.stored_uids(folder, since=folder.uidnext)
    # "UID n:*" names the last message even when its UID is below n.
    new = [uid for uid in session.search(f"UID {folder.uidnext}:*") if uid >= folder.uidnext and uid not in stored]
    _download(session, folder, sorted(new), state, report, progress)
    if server.uidnext and folder.uidnext < server.uidnext:
        folder.uidnext = server.uidnext
    state.heartbeat_at = utcnow()
    db.session.commit()


def _flags_and_removals(
    session: ImapSession,
    folder,
    server: FolderState,
    stored: set[int],
    known: dict[int, frozenset[str]] | None,
    report: FolderReport,
) -> set[int]:
    """Write the server's flag changes and drop the expunged; return the UIDs on the server.

    `known` (the stored flags) is given for a full flag scan, None to ask for changes (CONDSTORE).
    """
    if known is None:
        changed = {}
        if server.highestmodseq != folder.highestmodseq:
            changed = session.flags(changed_since=folder.highestmodseq)
        on_server = set(session.search("ALL"))
        changes = {uid: flags for uid, flags in changed.items() if uid in stored}
    else:
        flags = session.flags()
        on_server = set(flags)
        changes = {uid: value for uid, value in flags.items() if uid in known and known[uid] != value}
    report.flags_changed += store.set_flags(folder, changes)
    report.removed += store.remove_messages(folder, stored - on_server)
    db.session.commit()
    return on_server


def _new_uids(
    session: ImapSession, mailbox: Mailbox, folder, stored: set[int], on_server: set[int] | None
) -> list[int]:
    if folder.uidnext is not None:
        if on_server is None:
            on_server = set(session.search(f"UID {folder.uidnext}:*"))
        # "UID n:*" names the last message even when its UID is below n.
        return sorted(uid for uid in on_server if uid >= folder.uidnext and uid not in stored)
    if mailbox.sync_from:
        found = session.search_since(mailbox.sync_from)
    else:
        # A flag scan answers a line per message: SEARCH ALL's one line outgrows imaplib's limit
        # (1 MB) past about 140,000 messages on a server without ESEARCH (Exchange).
        found = sorted(session.flags())
    return [uid for uid in found if uid not in stored]


def _download(session: ImapSession, folder, uids: list[int], state: MailboxSync, report: FolderReport, progress):
    if not uids:
        return
    settings = current_app.config
    state.total += len(uids)
    db.session.commit()
    batch_messages, batch_bytes = settings["SYNC_BATCH_MESSAGES"], settings["SYNC_BATCH_BYTES"]
    sizes = session.sizes(uids)
    batch: list = []
    held = 0

    def store_batch() -> None:
        nonlocal batch, held
        store.add_messages(folder, batch)
        report.fetched += len(batch)
        report.bytes += held
        state.done += len(batch)
        state.heartbeat_at = utcnow()
        db.session.commit()
        batch, held = [], 0
        if progress is not None:
            progress(state.done, state.total)

    stream = session.fetch(
        [uid for uid in uids if uid in sizes],
        sizes,
        batch_messages=batch_messages,
        batch_bytes=batch_bytes,
        pipeline=settings["SYNC_PIPELINE"],
    )
    for message in stream:
        batch.append(message)
        held += len(message.raw)
        if len(batch) >= batch_messages or held >= batch_bytes:
            store_batch()
    if batch:
        store_batch()


def _find_renamed(session: ImapSession, mailbox: Mailbox, folder, listed: set[str]) -> str | None:
    """Return the listed folder, not chosen already, that has the missing folder's UIDVALIDITY."""
    if folder.uidvalidity is None:
        return None
    for name in sorted(listed - set(mailbox.folders)):
        if session.select(name).uidvalidity == folder.uidvalidity:
            return name
    return None


def _record_failure(mailbox_id: int, error: BaseException) -> None:
    explained = explain(error)
    state = sync_state(mailbox_id)
    _store_explanation(state, explained)
    retry = explained.retry_after
    _finish(mailbox_id, state, retry_seconds=retry)
    current_app.logger.warning("Sync of mailbox %s failed: %s", mailbox_id, explained.summary)


def _store_explanation(state: MailboxSync, explained: Explanation) -> None:
    state.failed_at = utcnow()
    state.error_title = (explained.title or explained.action)[:300]
    state.error_cause = explained.cause or None
    state.error_action = explained.action or None
    state.error_code = (explained.code or "")[:64] or None
    state.error_server_said = explained.server_said
    state.reconnect_needed = explained.reconnect


def _finish(
    mailbox_id: int, state: MailboxSync | None = None, retry_seconds: float | None = None, schedule: bool = True
) -> None:
    state = state or sync_state(mailbox_id)
    state.running = False
    if schedule:
        minutes = current_app.config["SYNC_POLL_MINUTES"]
        wait = timedelta(seconds=retry_seconds) if retry_seconds else timedelta(minutes=minutes)
        state.next_run_at = utcnow() + wait
    db.session.commit()

