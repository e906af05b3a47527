"""Push: the worker keeps one IDLE connection on the Inbox of each connected mailbox and syncs the
Inbox the moment the server tells of a new message (Dovecot tells within 0.5 s of delivery).

`Watchers` is what `mail-worker` runs beside the queue's consumer: a supervisor thread that
re-reads the mailboxes every SUPERVISE_SECONDS and a watcher thread per mailbox it holds.
With workers on several machines each mailbox is watched by one of them: the supervisor claims a
mailbox by compare-and-swap on a lease in its sync state (push_owner, push_lease_until), renews
it at every round, and takes over a lease that ran out (its worker died).

A watcher renews its IDLE every SYNC_IDLE_MINUTES (Exchange ends one after 29 minutes) and signs
in again with a fresh access token before the old one expires. Its syncs run through the engine
in a thread of their own, not through the queue: the SQLite queue is polled once a second, and a
new message should be stored within one. They download only what is new (flags and removals are
the regular pass's) over a second session kept open between them, when SYNC_CONNECTIONS_PER_MAILBOX
leaves room for it (3, the default): no connection and no sign-in before the download. A pass of
all folders holding the lock makes a push wait and sync the Inbox right after, so that no push is
lost.
"""

import os
import secrets
import socket
import threading
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ..connection import tokens
from ..connection.models import MicrosoftGrant
from ..database import utcnow
from ..extensions import db
from ..failures import EXPLAINED, explain
from ..mailboxes.models import Mailbox
from ..mailboxes.service import open_imap
from ..mailservers import ImapSession, MailServerError, xoauth2
from ..mailservers.errors import secrets_of
from . import engine
from .models import MailboxSync

INBOX = "INBOX"
SUPERVISE_SECONDS = 30.0
# Renewed at every round of the supervisor: a lease runs out only when its worker stopped.
LEASE = timedelta(minutes=2)
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
THROTTLE_CAP_SECONDS = 900.0
# How often a push that waits for a pass of all folders looks whether the lock is free, and how
# long it waits before asking the engine again (which takes over a lock left by a dead pass).
LOCK_POLL_SECONDS = 0.2
LOCK_RETRY_SECONDS = 60.0
# The IDLE connection and a pass: fewer connections per mailbox leave no room for push.
CONNECTIONS_NEEDED = 2
# With one more, the push's syncs keep their session open from one new message to the next.
CONNECTIONS_TO_KEEP_A_SESSION = 3


def inbox_of(folders: list[str] | None) -> str | None:
    """Return the Inbox's name among the chosen folders (IMAP names it INBOX in any case), or None."""
    return next((name for name in folders or [] if name.upper() == INBOX), None)


class Watchers:
    """One worker's IDLE watchers: a supervisor that follows the mailboxes and a watcher per mailbox."""

    def __init__(
        self,
        app: Flask,
        *,
        idle_seconds: float | None = None,
        supervise_seconds: float = SUPERVISE_SECONDS,
        lease: timedelta = LEASE,
    ):
        self.app = app
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.idle_seconds = idle_seconds or app.config["SYNC_IDLE_MINUTES"] * 60
        self.supervise_seconds = supervise_seconds
        self.lease = lease
        self.watching: dict[int, Watcher] = {}
        self.stopping = threading.Event()
        # Held while the watchers are started or stopped: a stop never misses one just started.
        self._changing = threading.Lock()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        """Start the supervisor, which starts the watchers; say why not when push is off."""
        settings = self.app.config
        if not settings["SYNC_PUSH"]:
            self.app.logger.info("Push is off (SYNC_PUSH): new mail waits for the next sync pass")
            return
        if settings["SYNC_CONNECTIONS_PER_MAILBOX"] < CONNECTIONS_NEEDED:
            self.app.logger.warning(
                "Push is off: it needs %d IMAP connections per mailbox, SYNC_CONNECTIONS_PER_MAILBOX allows %d",
                CONNECTIONS_NEEDED,
                settings["SYNC_CONNECTIONS_PER_MAILBOX"],
            )
            return
        self._supervisor = threading.Thread(target=self._supervise, name="push-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        """Stop every watcher and give their mailboxes up; their running syncs of the Inbox finish."""
        if self.stopping.is_set():
            return
        with self._changing:
            self.stopping.set()
            for watcher in self.watching.values():
                watcher.stop()
        try:
            with self.app.app_context():
                self._release(None)
        except Exception:
            self.app.logger.exception("Push: the watched mailboxes could not be given up; their leases run out")

    def wait(self, seconds: float) -> None:
        """Wait at most `seconds` for the stopped watchers and their syncs to end."""
        ends = time.monotonic() + seconds
        threads = [self._supervisor] if self._supervisor else []
        for watcher in list(self.watching.values()):
            threads.extend(watcher.threads())
        for thread in threads:
            thread.join(max(0.0, ends - time.monotonic()))

    def supervise_once(self) -> None:
        """Bring the watchers in step with the mailboxes: start, renew, or stop each one's."""
        wanted = self._wanted()
        for mailbox_id, watcher in list(self.watching.items()):
            if not watcher.alive() or wanted.get(mailbox_id) != watcher.folder or not self._renew(mailbox_id):
                watcher.stop()
                # Released before it leaves the list: once a mailbox is no longer watched here, its
                # state says so too.
                self._release(mailbox_id)
                del self.watching[mailbox_id]
        for mailbox_id, folder in wanted.items():
            if mailbox_id not in self.watching and self._claim(mailbox_id):
                watcher = Watcher(self, mailbox_id, folder)
                self.watching[mailbox_id] = watcher
                watcher.start()
                self.app.logger.info("Push: watching the %s of mailbox %s", folder, mailbox_id)

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            try:
                with self._changing, self.app.app_context():
                    if not self.stopping.is_set():
                        self.supervise_once()
            except Exception:
                self.app.logger.exception(
                    "Push: the watchers could not follow the mailboxes; again in %s s", self.supervise_seconds
                )
            self.stopping.wait(self.supervise_seconds)

    def _wanted(self) -> dict[int, str]:
        """Return the Inbox of each connected mailbox that has it chosen and needs no reconnect (or
        was reconnected since it failed)."""
        rows = db.session.execute(
            select(Mailbox.id, Mailbox.folders)
            .outerjoin(MailboxSync, MailboxSync.mailbox_id == Mailbox.id)
            .where(
                Mailbox.grant_id.is_not(None),
                or_(
                    MailboxSync.reconnect_needed.is_(None),
                    MailboxSync.reconnect_needed.is_(False),
                    MailboxSync.failed_at.is_(None),
                    Mailbox.connected_at > MailboxSync.failed_at,
                ),
            )
            .order_by(Mailbox.id)
        )
        wanted = {mailbox_id: inbox_of(folders) for mailbox_id, folders in rows}
        db.session.rollback()
        return {mailbox_id: folder for mailbox_id, folder in wanted.items() if folder is not None}

    def _claim(self, mailbox_id: int) -> bool:
        engine.sync_state(mailbox_id)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # a pass or another worker made the row at the same moment
        now = utcnow()
        claimed = db.session.execute(
            update(MailboxSync)
            .where(
                MailboxSync.mailbox_id == mailbox_id,
                or_(
                    MailboxSync.push_owner.is_(None),
                    MailboxSync.push_owner == self.owner,
                    MailboxSync.push_lease_until.is_(None),
                    MailboxSync.push_lease_until < now,
                ),
            )
            .values(push_owner=self.owner, push_lease_until=now + self.lease, push_active=False)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        return claimed == 1

    def _renew(self, mailbox_id: int) -> bool:
        renewed = db.session.execute(
            update(MailboxSync)
            .where(MailboxSync.mailbox_id == mailbox_id, MailboxSync.push_owner == self.owner)
            .values(push_lease_until=utcnow() + self.lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        return renewed == 1

    def _release(self, mailbox_id: int | None) -> None:
        """Give up the lease of one mailbox, or of every one this worker holds."""
        query = update(MailboxSync).where(MailboxSync.push_owner == self.owner)
        if mailbox_id is not None:
            query = query.where(MailboxSync.mailbox_id == mailbox_id)
        db.session.execute(
            query.values(push_owner=None, push_lease_until=None, push_active=False).execution_options(
                synchronize_session=False
            )
        )
        db.session.commit()


class Watcher:
    """The IDLE connection on one mailbox's Inbox, in a thread that reconnects until stopped."""

    def __init__(self, watchers: Watchers, mailbox_id: int, folder: str):
        self.watchers = watchers
        self.app = watchers.app
        self.mailbox_id = mailbox_id
        self.folder = folder
        self.idles = 0  # IDLE commands sent, renewals included
        self.sign_ins = 0
        keep = self.app.config["SYNC_CONNECTIONS_PER_MAILBOX"] >= CONNECTIONS_TO_KEEP_A_SESSION
        self.inbox = InboxSync(self.app, mailbox_id, folder, keep_session=keep)
        self._stopping = threading.Event()
        self._session: ImapSession | None = None
        self._active = False
        # Every form of the access token the watcher signs in with (raw, XOAUTH2, base64).
        self._secrets: tuple[str, ...] = ()
        self._thread = threading.Thread(target=self._run, name=f"push-{mailbox_id}", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching: wake the IDLE, which then ends; a running sync of the Inbox finishes."""
        self._stopping.set()
        self.inbox.stop()
        session = self._session
        if session is not None:
            session.interrupt()

    def alive(self) -> bool:
        """Tell whether the watcher still runs (it ends by itself when the mailbox needs a reconnect)."""
        return self._thread.is_alive()

    def threads(self) -> list[threading.Thread]:
        """Return the threads to wait for when stopping: the watcher's and its sync's."""
        return [self._thread, *self.inbox.threads()]

    def _run(self) -> None:
        failures = 0
        refreshed = refresh = False
        while not self._stopping.is_set():
            wait = 0.0
            try:
                if refresh:
                    refresh = False
                    self._refresh_token()
                if self._watch():
                    failures, refreshed = 0, False
            except MailServerError as error:
                if self._stopping.is_set():
                    break
                if error.kind == "imap_auth_failed" and not refreshed:
                    # The token may have been revoked since it was issued: a fresh one decides.
                    refreshed = refresh = True
                    continue
                if error.kind == "imap_auth_failed" or error.reconnect_needed:
                    self._give_up(error)
                    return
                if error.kind == "imap_throttled" and error.retry_after:
                    wait = min(THROTTLE_CAP_SECONDS, error.retry_after)
                else:
                    wait = self._backoff(failures)
                    failures += 1
                self.app.logger.warning(
                    "Push of mailbox %s: %s; again in %s s", self.mailbox_id, explain(error).summary, wait
                )
            except EXPLAINED as error:
                explained = explain(error)
                if explained.reconnect:
                    self._give_up(error)
                    return
                wait = self._backoff(failures)
                failures += 1
                self.app.logger.warning(
                    "Push of mailbox %s: %s; again in %s s", self.mailbox_id, explained.summary, wait
                )
            except Exception:
                wait = self._backoff(failures)
                failures += 1
                # The token's own forms are named: a traceback of the IMAP layer may quote them.
                self.app.logger.exception(
                    "Push of mailbox %s failed; again in %s s", self.mailbox_id, wait, extra={"secrets": self._secrets}
                )
            finally:
                self._session = None
                self._set_active(False)
            self._stopping.wait(wait)

    def _watch(self) -> bool:
        """Sign in, open the Inbox, IDLE on it until the token nears expiry or the watcher stops.

        Return whether IDLE was reached (the connection worked).
        """
        with self.app.app_context():
            mailbox = db.session.get(Mailbox, self.mailbox_id)
            if mailbox is not None and mailbox.grant_id is not None:
                address, grant_id = mailbox.address, mailbox.grant_id
                access_token = tokens.access_token(grant_id)
                expires_at = db.session.get(MicrosoftGrant, grant_id).access_token_expires_at
            else:
                address = None
        if address is None:
            # Removed or disconnected: the supervisor stops this watcher at its next round.
            self._stopping.wait(self.watchers.supervise_seconds)
            return False
        self._secrets = secrets_of(access_token, xoauth2(address, access_token))
        session = open_imap(address, access_token, self.app.config)
        self.sign_ins += 1
        self._session = session
        with session:
            if self._stopping.is_set():
                return False
            session.select(self.folder)
            self._set_active(True)
            # What arrived while nothing watched (before the first IDLE, between two connections).
            self.inbox.request()
            while not self._stopping.is_set():
                # Signed in again (with a fresh token) before the server ends the session at expiry.
                until_sign_in = (expires_at - tokens.REFRESH_MARGIN - utcnow()).total_seconds()
                if until_sign_in <= 0:
                    break
                self.idles += 1
                changes = session.idle(min(self.watchers.idle_seconds, until_sign_in))
                if any(kind == "EXISTS" for _, kind in changes):
                    self.inbox.request()
        return True

    def _refresh_token(self) -> None:
        with self.app.app_context():
            mailbox = db.session.get(Mailbox, self.mailbox_id)
            if mailbox is not None and mailbox.grant_id is not None:
                tokens.refresh_now(mailbox.grant_id)

    def _give_up(self, error: BaseException) -> None:
        """Record that the mailbox needs a reconnect, as a pass would; the supervisor drops the watcher."""
        explained = explain(error)
        self.app.logger.warning("Push of mailbox %s stopped, Reconnect needed: %s", self.mailbox_id, explained.summary)
        with self.app.app_context():
            engine.record_outside_pass(self.mailbox_id, error)

    def _set_active(self, active: bool) -> None:
        if active == self._active:
            return
        try:
            with self.app.app_context():
                db.session.execute(
                    update(MailboxSync)
                    .where(MailboxSync.mailbox_id == self.mailbox_id, MailboxSync.push_owner == self.watchers.owner)
                    .values(push_active=active)
                    .execution_options(synchronize_session=False)
                )
                db.session.commit()
            self._active = active
        except Exception:
            self.app.logger.exception("Push of mailbox %s: its state could not be recorded", self.mailbox_id)

    @staticmethod
    def _backoff(failures: int) -> float:
        return min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2**failures)


class InboxSync:
    """The Inbox's sync of new mail, run in a thread of its own when asked; asked again meanwhile, it
    runs once more. With `keep_session`, its IMAP session stays open from one sync to the next."""

    def __init__(self, app: Flask, mailbox_id: int, folder: str, *, keep_session: bool = False):
        self.app = app
        self.mailbox_id = mailbox_id
        self.folder = folder
        self.stopping = threading.Event()
        self.passes = 0
        self.kept = engine.KeptSession() if keep_session else None
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def stop(self) -> None:
        """Stop: a running sync finishes, then the kept session is signed out."""
        with self._lock:
            self.stopping.set()
            running = self._thread is not None
        if not running:
            self._close_kept()

    def request(self) -> None:
        """Ask for a sync of the Inbox now, or right after the one that runs."""
        with self._lock:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"push-sync-{self.mailbox_id}", daemon=True)
                self._thread.start()

    def threads(self) -> list[threading.Thread]:
        """Return the running sync's thread, if one runs."""
        thread = self._thread
        return [thread] if thread is not None else []

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wanted or self.stopping.is_set():
                    self._thread = None
                    stopped = self.stopping.is_set()
                    break
                self._wanted = False
            try:
                with self.app.app_context():
                    self._sync()
            except Exception:
                self.app.logger.exception("Push: the Inbox sync of mailbox %s failed", self.mailbox_id)
        if stopped:
            self._close_kept()

    def _close_kept(self) -> None:
        if self.kept is not None:
            try:
                self.kept.close()
            except Exception:
                self.app.logger.exception("Push: the kept session of mailbox %s could not be closed", self.mailbox_id)

    def _sync(self) -> None:
        while not self.stopping.is_set():
            try:
                engine.sync_mailbox(self.mailbox_id, folders=[self.folder], kept=self.kept, new_only=True)
                self.passes += 1
                return
            except engine.AlreadyRunning:
                # A pass holds the lock: the Inbox is synced the moment it frees, or the engine is
                # asked again now and then (it takes over a lock left by a pass that died).
                gives_up = time.monotonic() + LOCK_RETRY_SECONDS
                while engine.is_locked(self.mailbox_id) and time.monotonic() < gives_up:
                    if self.stopping.wait(LOCK_POLL_SECONDS):
                        return
            except EXPLAINED as error:
                # Recorded in the sync state by the engine; the watcher or the schedule tries again.
                self.app.logger.info("Push: the Inbox sync of mailbox %s: %s", self.mailbox_id, explain(error).summary)
                return
