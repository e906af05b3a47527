"""Push over IDLE against the real Dovecot: a watcher per connected mailbox stores a delivered
message within two seconds, follows the mailboxes, shares them between workers, renews its IDLE,
and records a dead sign-in as Reconnect needed."""

import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from oroflask import create_app
from oroflask.connection.models import MicrosoftGrant
from oroflask.connection.tokens import REFRESH_MARGIN
from oroflask.database import utcnow
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.sync import push
from oroflask.sync.engine import sync_state
from oroflask.sync.models import MailboxSync
from oroflask.worker import queue_of
from tests.conftest import USER_EMAIL
from tests.dovecot.fixtures import ALEX, revoke_token
from tests.mailboxes.conftest import connect, signed_in

from .test_engine import deliver, subjects

PUSHED_WITHIN = 2.0


@pytest.fixture
def mail_server(dovecot):
    """Push runs against the Exchange-like Dovecot (IDLE is the same with CONDSTORE); Alex's mailbox starts empty."""
    dovecot.empty(ALEX)
    return dovecot


@pytest.fixture
def start_watchers(app):
    """Return a function that starts a worker's watchers, re-reading the mailboxes every 0.2 s; all
    stopped at the end."""
    started: list[push.Watchers] = []

    def start(**options) -> push.Watchers:
        watchers = push.Watchers(app, supervise_seconds=options.pop("supervise_seconds", 0.2), **options)
        started.append(watchers)
        watchers.start()
        return watchers

    yield start
    for watchers in started:
        watchers.stop()
        watchers.wait(5)


def wait_until(condition, seconds: float = 10, what: str = "the condition") -> float:
    """Wait until `condition()` holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what} did not happen within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def idling(watchers: push.Watchers, mailbox_id: int) -> bool:
    """Tell whether the mailbox's watcher is in IDLE with its first Inbox sync done."""
    watcher = watchers.watching.get(mailbox_id)
    return watcher is not None and watcher.idles >= 1 and watcher.inbox.passes >= 1 and not watcher.inbox.threads()


def wait_for_idle(watchers: push.Watchers, mailbox_id: int) -> None:
    wait_until(lambda: idling(watchers, mailbox_id), what="IDLE on the Inbox")
    # IDLE is sent; give its answer a moment to come back before a delivery is timed.
    time.sleep(0.2)


def push_state(app, mailbox_id: int) -> MailboxSync | None:
    with app.app_context():
        state = db.session.get(MailboxSync, mailbox_id)
        if state is not None:
            db.session.expunge(state)
        return state


def choose(app, mailbox_id: int, folders: list[str] | None) -> None:
    with app.app_context():
        db.session.get(Mailbox, mailbox_id).folders = folders
        db.session.commit()


def test_a_delivered_message_is_stored_within_two_seconds(app, mail_server, mailbox_id, start_watchers):
    watchers = start_watchers()
    wait_for_idle(watchers, mailbox_id)
    state = push_state(app, mailbox_id)
    assert state.push_active and state.push_owner == watchers.owner and state.push_lease_until > utcnow()

    deliver(mail_server, "Pushed")
    took = wait_until(lambda: subjects(app, mailbox_id) == ["Pushed"], PUSHED_WITHIN, "the push")

    assert took < PUSHED_WITHIN
    # Pushed to the Inbox only: the next pass of every folder stays where the schedule put it.
    assert push_state(app, mailbox_id).next_run_at is None


def test_pushes_share_one_kept_session_signed_out_when_the_watcher_stops(app, mail_server, mailbox_id, start_watchers):
    watchers = start_watchers()
    wait_for_idle(watchers, mailbox_id)
    inbox = watchers.watching[mailbox_id].inbox

    for subject in ("One", "Two"):
        deliver(mail_server, subject)
        wait_until(lambda: subject in subjects(app, mailbox_id), PUSHED_WITHIN, "the push")

    wait_until(lambda: inbox.passes >= 3, what="the end of the second push's sync")
    assert inbox.kept.opened == 1 and inbox.kept.session.open
    watchers.stop()
    watchers.wait(5)
    assert inbox.kept.session is None


def test_without_room_for_a_third_connection_each_push_opens_its_own(app, mail_server, mailbox_id, start_watchers):
    app.config["SYNC_CONNECTIONS_PER_MAILBOX"] = 2
    watchers = start_watchers()
    wait_for_idle(watchers, mailbox_id)

    deliver(mail_server, "Pushed")

    wait_until(lambda: subjects(app, mailbox_id) == ["Pushed"], PUSHED_WITHIN, "the push")
    assert watchers.watching[mailbox_id].inbox.kept is None


def test_a_mailbox_connected_or_given_its_inbox_while_the_watchers_run_gets_watched(
    app, mail_server, request, start_watchers
):
    watchers = start_watchers()
    mailbox_id = request.getfixturevalue("mailbox_id")
    wait_for_idle(watchers, mailbox_id)
    choose(app, mailbox_id, ["Archive"])
    wait_until(lambda: mailbox_id not in watchers.watching, what="the watcher's stop")
    assert not push_state(app, mailbox_id).push_active

    choose(app, mailbox_id, ["INBOX", "Archive"])
    wait_for_idle(watchers, mailbox_id)
    deliver(mail_server, "Watched again")

    wait_until(lambda: subjects(app, mailbox_id) == ["Watched again"], PUSHED_WITHIN, "the push")


def test_a_removed_mailbox_is_no_longer_watched(app, mail_server, mailbox_id, start_watchers):
    watchers = start_watchers()
    wait_for_idle(watchers, mailbox_id)
    watcher = watchers.watching[mailbox_id]
    with app.app_context():
        db.session.delete(db.session.get(Mailbox, mailbox_id))
        db.session.commit()

    wait_until(lambda: mailbox_id not in watchers.watching and not watcher.alive(), what="the watcher's stop")
    assert push_state(app, mailbox_id) is None


def test_two_workers_watch_a_mailbox_once_and_the_second_takes_over(app, mail_server, mailbox_id, start_watchers):
    first = start_watchers()
    wait_for_idle(first, mailbox_id)
    second = start_watchers()
    time.sleep(1)
    assert mailbox_id in first.watching and mailbox_id not in second.watching
    assert push_state(app, mailbox_id).push_owner == first.owner

    first.stop()
    first.wait(5)
    wait_for_idle(second, mailbox_id)
    assert push_state(app, mailbox_id).push_owner == second.owner
    deliver(mail_server, "Seen by the second")

    wait_until(lambda: subjects(app, mailbox_id) == ["Seen by the second"], PUSHED_WITHIN, "the push")


def test_a_lease_of_a_worker_that_died_is_taken_over(app, mail_server, mailbox_id, start_watchers):
    with app.app_context():
        state = sync_state(mailbox_id)
        state.push_owner, state.push_lease_until = "a machine that died", utcnow() + timedelta(seconds=1)
        db.session.commit()
    watchers = start_watchers()
    time.sleep(0.5)
    assert mailbox_id not in watchers.watching

    wait_for_idle(watchers, mailbox_id)

    assert push_state(app, mailbox_id).push_owner == watchers.owner


def test_idle_is_renewed_on_one_connection_and_still_pushes(app, mail_server, mailbox_id, start_watchers):
    watchers = start_watchers(idle_seconds=1)
    wait_for_idle(watchers, mailbox_id)
    watcher = watchers.watching[mailbox_id]

    wait_until(lambda: watcher.idles >= 3, what="two renewals")

    assert watcher.sign_ins == 1
    deliver(mail_server, "After the renewals")
    wait_until(lambda: subjects(app, mailbox_id) == ["After the renewals"], PUSHED_WITHIN, "the push")


def test_a_token_near_expiry_is_refreshed_and_the_watcher_signs_in_again(app, mail_server, mailbox_id, start_watchers):
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, db.session.get(Mailbox, mailbox_id).grant_id)
        grant.access_token_expires_at = utcnow() + REFRESH_MARGIN + timedelta(seconds=2)
        db.session.commit()
        grant_id = grant.id
    watchers = start_watchers()
    wait_for_idle(watchers, mailbox_id)
    watcher = watchers.watching[mailbox_id]

    wait_until(lambda: watcher.sign_ins >= 2 and watcher.idles >= 2, what="the second sign-in")

    with app.app_context():
        grant = db.session.get(MicrosoftGrant, grant_id)
        assert grant.refreshed_at is not None and grant.access_token_expires_at > utcnow() + REFRESH_MARGIN
    deliver(mail_server, "With the fresh token")
    wait_until(lambda: subjects(app, mailbox_id) == ["With the fresh token"], PUSHED_WITHIN, "the push")


def test_a_revoked_sign_in_is_recorded_as_reconnect_needed_and_the_watcher_stops(
    app, mail_server, mailbox_id, mail_identity_provider, start_watchers
):
    watchers = start_watchers()
    wait_for_idle(watchers, mailbox_id)
    watcher = watchers.watching[mailbox_id]
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, db.session.get(Mailbox, mailbox_id).grant_id)
        access_token = decrypt(grant.access_token_encrypted)
    revoke_token(mail_identity_provider, access_token)
    requests.post(f"{mail_identity_provider}/_devidp/revoke", json={"email": ALEX}, timeout=10).raise_for_status()

    # The server drops the session, as Exchange does on a revoked sign-in.
    mail_server.doveadm("kick", ALEX)

    wait_until(lambda: not watcher.alive(), what="the watcher's end")
    wait_until(lambda: mailbox_id not in watchers.watching, what="the watcher's removal")
    state = push_state(app, mailbox_id)
    assert state.reconnect_needed and state.error_title and not state.push_active
    assert access_token not in repr(vars(state))
    time.sleep(0.5)
    assert mailbox_id not in watchers.watching

    # Reconnected by its owner: watched again at once, before any pass clears the failure.
    assert connect(signed_in(app, USER_EMAIL), mail_identity_provider, ALEX).status_code == 200
    wait_for_idle(watchers, mailbox_id)
    deliver(mail_server, "After the reconnect")
    wait_until(lambda: "After the reconnect" in subjects(app, mailbox_id), PUSHED_WITHIN, "the push")


def test_a_push_while_a_full_pass_holds_the_lock_is_synced_right_after(app, mail_server, mailbox_id, start_watchers):
    with app.app_context():
        state = sync_state(mailbox_id)
        state.running, state.heartbeat_at = True, utcnow()
        db.session.commit()
    lock = queue_of(app).huey.lock_task(f"sync-mailbox-{mailbox_id}")
    lock.acquire()
    try:
        watchers = start_watchers()
        wait_until(lambda: mailbox_id in watchers.watching and watchers.watching[mailbox_id].idles >= 1)
        deliver(mail_server, "Waits for the pass")
        time.sleep(1.5)
        assert subjects(app, mailbox_id) == []
    finally:
        lock.release()

    wait_until(lambda: subjects(app, mailbox_id) == ["Waits for the pass"], PUSHED_WITHIN, "the sync after the pass")


def test_push_is_off_when_configured_so(app, mailbox_id, start_watchers):
    app.config.update(SYNC_PUSH=False)
    watchers = start_watchers()
    time.sleep(0.5)
    assert watchers.watching == {}
    with app.app_context():
        assert db.session.execute(select(MailboxSync.push_owner)).scalars().all() in ([], [None])


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"SYNC_IDLE_MINUTES": 29}, "at most 28"),
        ({"SYNC_IDLE_MINUTES": 0}, "at least 1"),
        ({"SYNC_PUSH": "yes"}, "true or false"),
    ],
)
def test_push_settings_are_checked(config, settings, problem):
    with pytest.raises(ValueError, match=problem):
        create_app({**config, **settings})


def test_a_dropped_connection_is_opened_again_and_push_goes_on(app, mail_server, mailbox_id, start_watchers):
    watchers = start_watchers()
    wait_for_idle(watchers, mailbox_id)
    watcher = watchers.watching[mailbox_id]

    mail_server.doveadm("kick", ALEX)

    wait_until(lambda: watcher.sign_ins >= 2 and watcher.idles >= 2, what="the second connection")
    assert push_state(app, mailbox_id).push_active and not push_state(app, mailbox_id).reconnect_needed
    time.sleep(0.2)
    deliver(mail_server, "After the drop")
    wait_until(lambda: subjects(app, mailbox_id) == ["After the drop"], PUSHED_WITHIN, "the push")


def test_a_throttled_watcher_waits_as_the_server_asks_then_tries_again(
    app, config, mailbox_id, imap_stand_in, start_watchers, caplog
):
    throttles = imap_stand_in(
        answers={"EXAMINE": ["{tag} NO Request is throttled. Suggested Backoff Time: 1500 milliseconds"]}
    )
    app.config.update(
        MICROSOFT_IMAP_HOST="127.0.0.1", MICROSOFT_IMAP_PORT=throttles.port, MICROSOFT_IMAP_SECURITY="none"
    )
    watchers = start_watchers()
    wait_until(lambda: mailbox_id in watchers.watching)
    watcher = watchers.watching[mailbox_id]
    wait_until(lambda: watcher.sign_ins == 1)
    started = time.monotonic()

    wait_until(lambda: watcher.sign_ins == 2, what="the second try")

    assert time.monotonic() - started >= 1.9  # 1,500 ms, rounded up to whole seconds
    assert f"Push of mailbox {mailbox_id}: The IMAP server is throttling requests" in caplog.text
    assert "again in 2 s" in caplog.text
    assert watcher.alive() and not push_state(app, mailbox_id).reconnect_needed
