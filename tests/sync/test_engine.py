"""The sync engine against the real Dovecot, Exchange-like and with CONDSTORE: what a pass stores,
what it downloads, and how it fails."""

import smtplib
import ssl
import threading
import time
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
import requests
from imapclient import IMAPClient
from sqlalchemy import select

from oroflask.connection.models import MicrosoftGrant
from oroflask.database import utcnow
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.failures import EXPLAINED
from oroflask.mailboxes.models import Mailbox
from oroflask.mailstore.models import MailFolder, Message
from oroflask.sync import cli as sync_cli
from oroflask.sync import engine, tasks
from oroflask.sync.models import MailboxSync
from oroflask.worker import queue_of
from tests.dovecot.fixtures import ALEX, revoke_token, sign_in_for_token


def deliver(server, subject: str, body: str = "Hello.") -> None:
    """Deliver a message with a Message-ID of its own into Alex's Inbox over LMTP."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "sender@example.com", ALEX, subject
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content(body)
    server.deliver_message(message)


def imap(server, identity_provider: str) -> IMAPClient:
    """Return Alex's mailbox opened by another client, as a user's mail program would."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    client = IMAPClient("localhost", server.imaps_port, ssl_context=context, timeout=10)
    client._imap.debug = 0
    client.oauth2_login(ALEX, sign_in_for_token(identity_provider, ALEX))
    return client


def sync(app, mailbox_id: int, **options) -> engine.SyncReport:
    with app.app_context():
        return engine.sync_mailbox(mailbox_id, **options)


def stored(app, mailbox_id: int) -> dict[str, dict[int, tuple[str, str]]]:
    """Return each stored folder's messages: UID -> (subject, flags)."""
    with app.app_context():
        rows = db.session.execute(
            select(MailFolder.name, Message.uid, Message.subject, Message.flags)
            .join(Message, Message.folder_id == MailFolder.id)
            .where(MailFolder.mailbox_id == mailbox_id)
        )
        found: dict[str, dict[int, tuple[str, str]]] = {}
        for folder, uid, subject, flags in rows:
            found.setdefault(folder, {})[uid] = (subject, flags)
        return found


def subjects(app, mailbox_id: int, folder: str = "INBOX") -> list[str]:
    return sorted(subject for subject, _ in stored(app, mailbox_id).get(folder, {}).values())


def state_of(app, mailbox_id: int) -> MailboxSync:
    with app.app_context():
        state = db.session.get(MailboxSync, mailbox_id)
        db.session.expunge(state)
        return state


def choose(app, mailbox_id: int, folders: list[str] | None) -> None:
    with app.app_context():
        db.session.get(Mailbox, mailbox_id).folders = folders
        db.session.commit()


def test_first_sync_new_mail_flags_and_expunges(app, mail_server, mailbox_id, mail_identity_provider):
    for subject in ("One", "Two", "Three"):
        deliver(mail_server, subject)

    first = sync(app, mailbox_id)

    assert (first.fetched, first.flags_changed, first.removed) == (3, 0, 0)
    assert subjects(app, mailbox_id) == ["One", "Three", "Two"]
    with imap(mail_server, mail_identity_provider) as client:
        client.select_folder("INBOX")
        one, two, three = client.search("ALL")
        client.add_flags([one], [b"\\Seen", b"\\Flagged"])
        client.delete_messages([two])
        client.expunge()
    deliver(mail_server, "Four")

    second = sync(app, mailbox_id)

    assert (second.fetched, second.flags_changed, second.removed) == (1, 1, 1)
    inbox = stored(app, mailbox_id)["INBOX"]
    assert sorted(inbox.values()) == [("Four", ""), ("One", "\\Flagged \\Seen"), ("Three", "")]
    third = sync(app, mailbox_id)
    assert (third.fetched, third.flags_changed, third.removed) == (0, 0, 0)
    state = state_of(app, mailbox_id)
    assert state.succeeded_at and not state.running and state.error_title is None
    assert (state.done, state.total) == (0, 0)
    if mail_server.capabilities == "full":
        assert third.condstore and third.commands["ENABLE CONDSTORE"] == 1
        assert second.commands["UID FETCH FLAGS CHANGEDSINCE"] == 1 and "UID FETCH FLAGS" not in second.commands
    else:
        # The Exchange-like path: CONDSTORE hidden, so never enabled nor used, though Dovecot would take it.
        assert not third.condstore
        assert not {"ENABLE CONDSTORE", "UID FETCH FLAGS CHANGEDSINCE"} & (set(second.commands) | set(third.commands))
        assert second.commands["UID FETCH FLAGS"] == 1


def test_a_new_mail_pass_on_a_kept_session_downloads_what_arrived_and_leaves_flags_to_the_full_pass(
    app, mail_server, mailbox_id, mail_identity_provider
):
    deliver(mail_server, "First")
    assert sync(app, mailbox_id).fetched == 1
    with imap(mail_server, mail_identity_provider) as client:
        client.select_folder("INBOX")
        client.add_flags(client.search("ALL"), [b"\\Seen"])
    deliver(mail_server, "Second")
    kept = engine.KeptSession()
    try:
        first = sync(app, mailbox_id, folders=["INBOX"], kept=kept, new_only=True)
        deliver(mail_server, "Third")
        second = sync(app, mailbox_id, folders=["INBOX"], kept=kept, new_only=True)
        assert kept.session.open
    finally:
        kept.close()

    assert (first.fetched, first.flags_changed, second.fetched) == (1, 0, 1)
    assert kept.opened == 1 and "AUTHENTICATE" not in second.commands
    assert not {"LIST", "UID FETCH FLAGS"} & (first.commands.keys() | second.commands.keys())
    assert sorted(stored(app, mailbox_id)["INBOX"].values()) == [("First", ""), ("Second", ""), ("Third", "")]
    full = sync(app, mailbox_id)
    assert (full.fetched, full.flags_changed) == (0, 1)


def test_a_kept_session_that_died_unused_is_replaced_at_once(app, mail_server, mailbox_id):
    kept = engine.KeptSession()
    try:
        sync(app, mailbox_id, folders=["INBOX"], kept=kept, new_only=True)
        kept.session.interrupt()  # as when the server or the network ends it
        deliver(mail_server, "After the drop")
        started = time.monotonic()

        report = sync(app, mailbox_id, folders=["INBOX"], kept=kept, new_only=True)

        assert time.monotonic() - started < engine.BACKOFF_FIRST_SECONDS
        assert report.fetched == 1 and report.attempts == 2 and kept.opened == 2 and kept.session.open
    finally:
        kept.close()


def test_a_kept_session_is_not_used_once_the_mailbox_is_connected_through_another_grant(app, mail_server, mailbox_id):
    kept = engine.KeptSession()
    try:
        sync(app, mailbox_id, folders=["INBOX"], kept=kept, new_only=True)
        with app.app_context():  # connected again: a new grant, as Reconnect makes
            mailbox = db.session.get(Mailbox, mailbox_id)
            old = db.session.get(MicrosoftGrant, mailbox.grant_id)
            columns = {column.key: getattr(old, column.key) for column in MicrosoftGrant.__table__.columns}
            renewed = MicrosoftGrant(**{key: value for key, value in columns.items() if key != "id"})
            db.session.add(renewed)
            db.session.flush()
            mailbox.grant_id = renewed.id
            db.session.commit()
        deliver(mail_server, "After the reconnect")

        report = sync(app, mailbox_id, folders=["INBOX"], kept=kept, new_only=True)

        assert report.fetched == 1 and kept.opened == 2 and "AUTHENTICATE" in report.commands
    finally:
        kept.close()


def test_a_moved_message_leaves_one_folder_for_the_other_in_one_conversation(
    app, mail_server, mailbox_id, mail_identity_provider
):
    choose(app, mailbox_id, ["INBOX", "Archive"])
    deliver(mail_server, "Stays")
    deliver(mail_server, "Moves")
    assert sync(app, mailbox_id).fetched == 2
    with imap(mail_server, mail_identity_provider) as client:
        client.select_folder("INBOX")
        moving = client.search(["SUBJECT", "Moves"])
        client.move(moving, "Archive")

    report = sync(app, mailbox_id)

    by_folder = {folder.name: folder for folder in report.folders}
    assert (by_folder["INBOX"].removed, by_folder["Archive"].fetched) == (1, 1)
    assert subjects(app, mailbox_id, "INBOX") == ["Stays"]
    assert subjects(app, mailbox_id, "Archive") == ["Moves"]


def test_a_uidvalidity_change_remaps_without_downloading_again(app, mail_server, mailbox_id):
    for subject in ("Kept one", "Kept two"):
        deliver(mail_server, subject)
    assert sync(app, mailbox_id).fetched == 2
    mail_server.doveadm("mailbox", "update", "--uid-validity", "4242", "-u", ALEX, "INBOX")
    deliver(mail_server, "After the change")

    report = sync(app, mailbox_id)

    assert report.fetched == 1 and report.folders[0].remapped == 2
    assert subjects(app, mailbox_id) == ["After the change", "Kept one", "Kept two"]
    with app.app_context():
        folder = db.session.execute(select(MailFolder).where(MailFolder.mailbox_id == mailbox_id)).scalar_one()
        assert folder.uidvalidity == 4242


def test_mail_older_than_sync_from_is_left_on_the_server_even_after_a_remap(
    app, mail_server, mailbox_id, mail_identity_provider
):
    with imap(mail_server, mail_identity_provider) as client:
        old = b"Subject: From 2020\r\nMessage-ID: <old@example.com>\r\n\r\nLong ago.\r\n"
        client.append("INBOX", old, msg_time=datetime(2020, 1, 1, tzinfo=timezone.utc))
    deliver(mail_server, "This month")
    with app.app_context():
        db.session.get(Mailbox, mailbox_id).sync_from = date.today() - timedelta(days=30)
        db.session.commit()

    assert sync(app, mailbox_id).fetched == 1
    mail_server.doveadm("mailbox", "update", "--uid-validity", "777", "-u", ALEX, "INBOX")
    report = sync(app, mailbox_id)

    assert report.fetched == 0 and report.folders[0].remapped == 1
    assert subjects(app, mailbox_id) == ["This month"]


def test_a_renamed_folder_keeps_its_mail(app, mail_server, mailbox_id, mail_identity_provider):
    mail_server.doveadm("mailbox", "create", "-u", ALEX, "Projects")
    with imap(mail_server, mail_identity_provider) as client:
        client.append("Projects", b"Subject: Plan\r\nMessage-ID: <plan@example.com>\r\n\r\nThe plan.\r\n")
    choose(app, mailbox_id, ["INBOX", "Projects"])
    assert sync(app, mailbox_id).fetched == 1
    mail_server.doveadm("mailbox", "rename", "-u", ALEX, "Projects", "Clients")

    report = sync(app, mailbox_id)

    assert report.fetched == 0 and report.folders[1].renamed_from == "Projects"
    assert subjects(app, mailbox_id, "Clients") == ["Plan"]
    with app.app_context():
        assert db.session.get(Mailbox, mailbox_id).folders == ["INBOX", "Clients"]


def test_a_sync_killed_mid_batch_is_resumed_without_duplicates_or_gaps(app, mail_server, mailbox_id):
    app.config.update(SYNC_BATCH_MESSAGES=2)
    for number in range(5):
        deliver(mail_server, f"Message {number}")

    def killed(done: int, total: int) -> None:
        raise KeyboardInterrupt("stopped after the first batch")

    with pytest.raises(KeyboardInterrupt):
        sync(app, mailbox_id, progress=killed)
    assert len(subjects(app, mailbox_id)) == 2
    assert not state_of(app, mailbox_id).running

    seen = []
    report = sync(app, mailbox_id, progress=lambda done, total: seen.append((done, total)))

    assert report.fetched == 3
    assert subjects(app, mailbox_id) == [f"Message {number}" for number in range(5)]
    assert seen == [(2, 3), (3, 3)]


def test_two_syncs_of_one_mailbox_never_run_at_once(app, mail_server, mailbox_id):
    deliver(mail_server, "Once")
    outcomes = []

    def other_worker() -> None:
        # Another worker thread, with its own application context and database connection.
        with app.app_context():
            try:
                outcomes.append(engine.sync_mailbox(mailbox_id).fetched)
            except engine.AlreadyRunning as error:
                outcomes.append(error.title)

    def while_running(done: int, total: int) -> None:
        racer = threading.Thread(target=other_worker)
        racer.start()
        racer.join(30)

    report = sync(app, mailbox_id, progress=while_running)

    assert report.fetched == 1
    assert outcomes == [f"{ALEX} is being synced already"]
    # The lock is given back: the next pass runs.
    assert sync(app, mailbox_id).fetched == 0


def test_a_revoked_access_token_is_refreshed_and_the_sync_goes_on(
    app, mail_server, mailbox_id, mail_identity_provider
):
    deliver(mail_server, "Still arrives")
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, db.session.get(Mailbox, mailbox_id).grant_id)
        revoke_token(mail_identity_provider, decrypt(grant.access_token_encrypted))

    report = sync(app, mailbox_id)

    assert report.fetched == 1 and report.attempts == 2
    assert not state_of(app, mailbox_id).reconnect_needed


@pytest.mark.parametrize("grant_revoked", [False, True])
def test_a_token_revoked_mid_sync_is_refreshed_or_recorded_and_nothing_is_lost(
    app, mail_server, mailbox_id, mail_identity_provider, monkeypatch, grant_revoked
):
    monkeypatch.setattr(engine, "BACKOFF_FIRST_SECONDS", 0.05)
    choose(app, mailbox_id, ["INBOX", "Archive"])
    deliver(mail_server, "In the Inbox")
    with imap(mail_server, mail_identity_provider) as client:
        client.append("Archive", b"Subject: Archived\r\nMessage-ID: <archived@example.com>\r\n\r\nOld.\r\n")
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, db.session.get(Mailbox, mailbox_id).grant_id)
        access_token = decrypt(grant.access_token_encrypted)

    def revoke_and_cut(done: int, total: int) -> None:
        if done == 1:
            revoke_token(mail_identity_provider, access_token)
            if grant_revoked:
                requests.post(f"{mail_identity_provider}/_devidp/revoke", json={"email": ALEX}, timeout=10)
            # The server drops the session, as Exchange does on a revoked sign-in.
            mail_server.doveadm("kick", ALEX)

    if grant_revoked:
        with pytest.raises(EXPLAINED):
            sync(app, mailbox_id, progress=revoke_and_cut)
        state = state_of(app, mailbox_id)
        assert state.reconnect_needed and state.error_title
        assert stored(app, mailbox_id) == {"INBOX": stored(app, mailbox_id)["INBOX"]}
        assert subjects(app, mailbox_id) == ["In the Inbox"]
    else:
        report = sync(app, mailbox_id, progress=revoke_and_cut)
        assert report.attempts == 3  # cut, refused, then with a refreshed token
        assert subjects(app, mailbox_id) == ["In the Inbox"]
        assert subjects(app, mailbox_id, "Archive") == ["Archived"]
        assert not state_of(app, mailbox_id).reconnect_needed


def test_a_revoked_sign_in_is_recorded_as_reconnect_needed_and_nothing_is_lost(
    app, mail_server, mailbox_id, mail_identity_provider
):
    deliver(mail_server, "Synced before")
    assert sync(app, mailbox_id).fetched == 1
    deliver(mail_server, "Waits for the reconnect")
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, db.session.get(Mailbox, mailbox_id).grant_id)
        access_token = decrypt(grant.access_token_encrypted)
    revoke_token(mail_identity_provider, access_token)
    response = requests.post(
        f"{mail_identity_provider}/_devidp/revoke", json={"email": ALEX}, timeout=10
    )
    assert response.status_code == 200

    with pytest.raises(EXPLAINED):
        sync(app, mailbox_id)

    state = state_of(app, mailbox_id)
    assert state.reconnect_needed and state.failed_at and not state.running
    assert state.error_title and access_token not in repr(vars(state))
    assert "Reconnect" in (state.error_action or "") or "sign in again" in (state.error_action or "").lower()
    assert subjects(app, mailbox_id) == ["Synced before"]


def test_a_message_the_parser_cannot_read_is_kept(app, mail_server, mailbox_id):
    broken = (
        b"From: \xff\xfe<<<\r\nSubject: =?utf-8?B?!!!?=\r\nContent-Type: multipart/mixed; boundary=\r\n"
        b"\r\n--\r\n\x00\x01"
    )
    with smtplib.LMTP("127.0.0.1", mail_server.lmtp_port, timeout=10) as lmtp:
        lmtp.sendmail("sender@example.com", [ALEX], broken)

    report = sync(app, mailbox_id)

    assert report.fetched == 1
    with app.app_context():
        message = db.session.execute(select(Message)).scalar_one()
        assert message.size > len(broken) - 10


def test_nothing_is_synced_before_folders_are_chosen(app, mail_server, mailbox_id):
    deliver(mail_server, "Not yet")
    choose(app, mailbox_id, None)

    report = sync(app, mailbox_id)

    assert report.note == engine.NO_FOLDERS and report.fetched == 0
    assert stored(app, mailbox_id) == {}


def beat(app, mailbox_id: int, minutes_ago: int) -> None:
    """Record a running pass's last heartbeat, as another worker's pass would."""
    with app.app_context():
        state = engine.sync_state(mailbox_id)
        state.running, state.heartbeat_at = True, utcnow() - timedelta(minutes=minutes_ago)
        db.session.commit()


def test_a_lock_held_by_a_live_pass_answers_already_running(app, mail_server, mailbox_id):
    beat(app, mailbox_id, minutes_ago=1)

    with queue_of(app).huey.lock_task(f"sync-mailbox-{mailbox_id}"):
        with pytest.raises(engine.AlreadyRunning):
            sync(app, mailbox_id)


def test_a_lock_left_by_a_dead_worker_is_taken_over(app, mail_server, mailbox_id):
    deliver(mail_server, "After the crash")
    beat(app, mailbox_id, minutes_ago=20)
    queue_of(app).huey.lock_task(f"sync-mailbox-{mailbox_id}").acquire()

    assert sync(app, mailbox_id).fetched == 1
    assert not queue_of(app).huey.is_locked(f"sync-mailbox-{mailbox_id}")
    assert not state_of(app, mailbox_id).running


def test_sync_mail_syncs_in_the_foreground_and_says_what_it_did(app, runner, mail_server, mailbox_id):
    deliver(mail_server, "From the command")

    result = runner.invoke(args=["sync-mail", "--mailbox", str(mailbox_id)])

    assert result.exit_code == 0, result.output
    assert f"{ALEX}: 1 of 1 messages" in result.output
    assert f"{ALEX}: INBOX: 1 new, 0 flags changed, 0 removed" in result.output


def test_sync_mail_draws_a_progress_bar_on_a_terminal(app, runner, mail_server, mailbox_id, monkeypatch):
    monkeypatch.setattr(sync_cli, "_on_terminal", lambda: True)
    app.config.update(SYNC_BATCH_MESSAGES=1)
    deliver(mail_server, "First")
    deliver(mail_server, "Second")

    result = runner.invoke(args=["sync-mail"])

    assert result.exit_code == 0, result.output
    assert "of 2 messages" not in result.output
    assert f"{ALEX}: INBOX: 2 new, 0 flags changed, 0 removed" in result.output


def test_sync_mail_fails_with_the_reason_for_an_unknown_mailbox(app, runner):
    result = runner.invoke(args=["sync-mail", "--mailbox", "999"])

    assert result.exit_code == 1 and "There is no mailbox 999." in result.output


def test_throttling_is_waited_out_then_recorded_explained(app, runner, config, mailbox_id, imap_stand_in):
    throttles = imap_stand_in(
        answers={
            "EXAMINE": [
                "* 1 EXISTS",
                "* OK [UIDVALIDITY 14] UIDs valid",
                "* OK [UIDNEXT 2] next",
                "{tag} OK [READ-ONLY] EXAMINE completed.",
            ],
            "UID": ["{tag} NO Request is throttled. Suggested Backoff Time: 1000 milliseconds"],
        }
    )
    app.config.update(
        MICROSOFT_IMAP_HOST="127.0.0.1", MICROSOFT_IMAP_PORT=throttles.port, MICROSOFT_IMAP_SECURITY="none"
    )

    started = time.monotonic()
    result = runner.invoke(args=["sync-mail", "--mailbox", str(mailbox_id)])

    assert time.monotonic() - started >= engine.THROTTLE_TRIES
    assert result.exit_code == 1
    assert "The IMAP server is throttling requests" in result.output
    state = state_of(app, mailbox_id)
    assert state.error_code == "imap_throttled" and not state.reconnect_needed
    assert "Suggested Backoff Time: 1000 milliseconds" in state.error_server_said


def test_the_schedule_queues_the_mailboxes_that_are_due(app, mail_server, mailbox_id):
    with app.app_context():
        huey = queue_of(app).huey
        scheduled = huey.read_periodic(datetime(2026, 12, 1, 0, 7))
        assert tasks.queue_due_mailboxes.name in {task.name for task in scheduled}
        tasks.queue_due_mailboxes()
        assert huey.pending_count() == 1
        huey.flush()
        tasks.sync_mailbox(mailbox_id)
        # Synced just now: due again in SYNC_POLL_MINUTES, not before.
        tasks.queue_due_mailboxes()
        assert huey.pending_count() == 0
        assert state_of(app, mailbox_id).next_run_at > state_of(app, mailbox_id).succeeded_at
