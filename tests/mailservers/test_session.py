"""The sync session against the real Dovecot, Exchange-like and with CONDSTORE, and against
stand-ins for the answers Dovecot cannot give (throttling, odd orders, silence)."""

import random
import ssl
import threading
import time
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient

from oroflask.mailservers import Endpoint, ImapSession, MailServerError
from oroflask.mailservers.session import compress, expand_uid_set, plan_chunks, uid_sets
from tests.dovecot.fixtures import ALEX, revoke_token

CAPABILITY_SETS = ["dovecot", "dovecot_condstore"]
TOKEN = "EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z/VbCPEz0AAQ.fake-token-for-the-stand-in"


@pytest.fixture(params=CAPABILITY_SETS)
def server(request):
    """Each test runs against the Exchange-like Dovecot and the one that advertises CONDSTORE."""
    dovecot = request.getfixturevalue(request.param)
    dovecot.empty(ALEX)
    return dovecot


def session_of(dovecot, token: str, **options) -> ImapSession:
    endpoint = Endpoint("localhost", dovecot.imaps_port, "tls")
    return ImapSession(endpoint, ALEX, token, ca_file=str(dovecot.ca_file), **options)


def client_of(dovecot, token: str) -> IMAPClient:
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    client = IMAPClient("localhost", dovecot.imaps_port, ssl_context=context, timeout=10)
    client._imap.debug = 0
    client.oauth2_login(ALEX, token)
    return client


def deliver(dovecot, subject: str, size: int, seed: int) -> None:
    """Deliver a message of about `size` bytes over LMTP, its body random but repeatable."""
    text = random.Random(seed).choices("abcdefghij klmnopqrstuvwxyz\n", k=size)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "sender@example.com", ALEX, subject
    message["Message-ID"] = f"<{seed}.{subject.replace(' ', '-')}@example.com>"
    message.set_content("".join(text))
    dovecot.deliver_message(message)


def test_a_session_signs_in_lists_selects_and_scans(server, token_for):
    for index in range(3):
        deliver(server, f"Message {index}", 200, index)
    with client_of(server, token_for(ALEX)) as client:
        client.select_folder("INBOX")
        first, second, third = client.search("ALL")
        client.add_flags([second], [b"\\Seen", b"$Forwarded"])
        client.create_folder("Entwürfe/Alt")

    with session_of(server, token_for(ALEX)) as session:
        folders = {folder.name: folder for folder in session.list_folders()}
        state = session.select("INBOX")
        uids = session.search()
        flags = session.flags()
        sizes = session.sizes(uids)
        keys = session.remap_keys()
        since_today = session.search_since(date.today() - timedelta(days=1))
        since_tomorrow = session.search_since(date.today() + timedelta(days=2))
        after_first = session.search(f"UID {second}:*")
        assert session.select("Entwürfe/Alt").exists == 0

    assert {"INBOX", "Sent Items", "Entwürfe", "Entwürfe/Alt"} <= set(folders)
    assert folders["Entwürfe/Alt"].parent == "Entwürfe"
    assert (state.exists, state.uidnext, uids) == (3, third + 1, [first, second, third])
    assert state.uidvalidity > 0
    assert flags == {first: frozenset(), second: frozenset({"\\Seen", "$Forwarded"}), third: frozenset()}
    assert set(sizes) == set(uids) and all(300 < size < 1000 for size in sizes.values())
    assert {key.size for key in keys.values()} == set(sizes.values())
    assert [keys[uid].message_id for uid in uids] == [f"<{index}.Message-{index}@example.com>" for index in range(3)]
    assert all(key.internaldate.tzinfo is timezone.utc for key in keys.values())
    assert (since_today, since_tomorrow, after_first) == (uids, [], [second, third])


def test_starttls_then_xoauth2_opens_the_mailbox(dovecot, token_for):
    endpoint = Endpoint("localhost", dovecot.imap_port, "starttls")

    with ImapSession(endpoint, ALEX, token_for(ALEX), ca_file=str(dovecot.ca_file)) as session:
        assert session.select("INBOX").uidvalidity > 0
        assert "IDLE" in session.capabilities


def test_an_untrusted_certificate_is_refused_before_the_token_is_sent(dovecot, token_for):
    with pytest.raises(MailServerError) as refused:
        ImapSession(Endpoint("localhost", dovecot.imaps_port, "tls"), ALEX, token_for(ALEX))

    assert refused.value.kind == "tls_certificate"


def test_condstore_is_used_only_when_the_server_advertises_it(server, token_for):
    deliver(server, "One", 100, 1)

    with session_of(server, token_for(ALEX)) as session:
        state = session.select("INBOX")
        if server.capabilities == "full":
            before = state.highestmodseq
            [uid] = session.search()
            with client_of(server, token_for(ALEX)) as client:
                client.select_folder("INBOX")
                client.add_flags([uid], [b"\\Flagged"])
            assert session.flags(changed_since=before) == {uid: frozenset({"\\Flagged"})}
            assert session.select("INBOX").highestmodseq > before
            assert session.commands["ENABLE CONDSTORE"] == 1 and session.condstore and session.qresync
        else:
            assert state.highestmodseq is None
            with pytest.raises(ValueError, match="CONDSTORE"):
                session.flags(changed_since=1)
            assert not session.condstore and not session.esearch
            assert "ENABLE CONDSTORE" not in session.commands
            assert "UID FETCH FLAGS CHANGEDSINCE" not in session.commands


def test_a_pipelined_fetch_streams_every_message_whole(server, token_for):
    sizes = [300, 5_000, 70_000, 1_200_000, 40_000, 900, 250_000, 12_000]
    for index, size in enumerate(sizes):
        deliver(server, f"Sized {index}", size, index)
    with client_of(server, token_for(ALEX)) as client:
        client.select_folder("INBOX", readonly=True)
        bodies = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
        expected = {uid: data[b"BODY[]"] for uid, data in bodies.items()}

    with session_of(server, token_for(ALEX)) as session:
        session.select("INBOX")
        uids = session.search()
        known = session.sizes(uids)
        # Small batches: several commands in flight, one of them a single big message.
        fetched = list(session.fetch(uids, known, batch_messages=3, batch_bytes=300_000, pipeline=3))
        assert session.commands["UID FETCH BODY"] >= 4
        # The session goes on after the stream: the connection is left clean.
        assert session.search() == uids

    assert [message.uid for message in fetched] == sorted(expected) == uids
    assert {message.uid: message.raw for message in fetched} == expected
    assert all(message.size == len(message.raw) == known[message.uid] for message in fetched)
    assert all(message.flags == frozenset() and message.internaldate.tzinfo for message in fetched)


def test_leaving_a_fetch_early_closes_the_session(server, token_for):
    for index in range(4):
        deliver(server, f"Early {index}", 100, index)

    session = session_of(server, token_for(ALEX))
    session.select("INBOX")
    uids = session.search()
    stream = session.fetch(uids, {}, batch_messages=1, pipeline=4)
    assert next(stream).uid == uids[0]
    stream.close()

    with pytest.raises(MailServerError) as closed:
        session.search()
    assert closed.value.kind == "connection_closed"


def test_idle_tells_of_new_mail_and_of_a_quiet_timeout(server, token_for):
    with session_of(server, token_for(ALEX)) as session:
        session.select("INBOX")
        started = time.monotonic()
        assert session.idle(0.3) == []
        assert 0.3 <= time.monotonic() - started < 2

        threading.Timer(0.2, lambda: deliver(server, "Pushed", 100, 1)).start()
        events = session.idle(5)
        assert (1, "EXISTS") in events, events
        # IDLE ended cleanly: the session goes on.
        assert len(session.search()) == 1
        session.noop()


def test_a_revoked_token_is_refused_with_reconnect_needed_and_never_shown(
    dovecot, token_for, mail_identity_provider
):
    access_token = token_for(ALEX)
    revoke_token(mail_identity_provider, access_token)

    with pytest.raises(MailServerError) as refused:
        session_of(dovecot, access_token)

    assert refused.value.kind == "imap_auth_failed" and refused.value.reconnect_needed
    assert "AUTHENTICATIONFAILED" in refused.value.server_said
    assert access_token not in str(refused.value) + str(refused.value.server_said)
    assert refused.value.__context__ is None


def test_nothing_answering_in_time_is_a_timeout(imap_stand_in):
    silent = imap_stand_in(silent=True)

    started = time.monotonic()
    with pytest.raises(MailServerError) as refused:
        ImapSession(Endpoint("127.0.0.1", silent.port, "none"), ALEX, TOKEN, connect_timeout=0.5)

    assert refused.value.kind == "timeout"
    assert time.monotonic() - started < 3


def test_a_command_left_unanswered_is_a_read_timeout(imap_stand_in):
    stalls = imap_stand_in(answers={"EXAMINE": []})
    session = ImapSession(Endpoint("127.0.0.1", stalls.port, "none"), ALEX, TOKEN, read_timeout=0.5)

    with pytest.raises(MailServerError) as refused:
        session.select("INBOX")

    assert refused.value.kind == "timeout" and "0.5 seconds" in refused.value.cause


EXAMINED = [
    "* 3 EXISTS",
    "* OK [UIDVALIDITY 14] UIDs valid",
    "* OK [UIDNEXT 9] The next unique identifier value",
    "{tag} OK [READ-ONLY] EXAMINE completed.",
]


def test_throttling_in_the_middle_of_a_fetch_says_how_long_to_wait(imap_stand_in):
    throttles = imap_stand_in(
        answers={
            "EXAMINE": EXAMINED,
            "UID": [
                '* 1 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE "02-Dec-2026 10:00:00 +0000" RFC822.SIZE 5 BODY[] {{5}}',
                "hello)",
                "{tag} NO Request is throttled. Suggested Backoff Time: 2500 milliseconds",
            ],
        }
    )
    session = ImapSession(Endpoint("127.0.0.1", throttles.port, "none"), ALEX, TOKEN)
    assert session.select("INBOX").uidvalidity == 14

    fetched = []
    with pytest.raises(MailServerError) as refused:
        for message in session.fetch([7, 8], {}, batch_messages=1, pipeline=1):
            fetched.append(message)

    assert [(message.uid, message.raw) for message in fetched] == [(7, b"hello")]
    assert refused.value.kind == "imap_throttled" and refused.value.retry_after == 3
    assert "Suggested Backoff Time: 2500 milliseconds" in refused.value.server_said


def test_a_fetch_reads_answers_in_any_order_among_untagged_news(imap_stand_in):
    chatty = imap_stand_in(
        answers={
            "EXAMINE": EXAMINED,
            "UID": [
                "* 4 EXISTS",
                "* 2 FETCH (FLAGS (\\Seen))",
                '* 1 FETCH (BODY[] {{5}}',
                'hello UID 7 RFC822.SIZE 5 FLAGS (\\Seen $Label1) INTERNALDATE " 2-Dec-2026 10:00:00 +0100")',
                "* 3 EXPUNGE",
                "* 2 FETCH (UID 8 BODY[] NIL)",
                "{tag} OK FETCH completed.",
            ],
        }
    )
    with ImapSession(Endpoint("127.0.0.1", chatty.port, "none"), ALEX, TOKEN) as session:
        session.select("INBOX")
        fetched = list(session.fetch([7, 8], {}))

    assert [(message.uid, message.raw) for message in fetched] == [(7, b"hello"), (8, b"")]
    assert fetched[0].flags == frozenset({"\\Seen", "$Label1"})
    assert fetched[0].internaldate == datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


def test_uid_sets_are_compressed_cut_and_planned():
    assert compress([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert expand_uid_set("1:3,7,10:9") == [1, 2, 3, 7, 9, 10]
    many = list(range(1, 40_000, 2))
    assert sum(len(expand_uid_set(part)) for part in uid_sets(many)) == len(many)
    assert all(len(part) <= 16_000 for part in uid_sets(many))
    chunks = list(plan_chunks([5, 1, 2, 3, 4], {1: 10, 2: 10, 3: 100, 4: 1, 5: 1}, 2, 50))
    assert chunks == [[1, 2], [3], [4, 5]]


def test_a_flag_scan_reads_every_wording_and_steps_over_literals(imap_stand_in):
    scans = imap_stand_in(
        answers={
            "EXAMINE": EXAMINED,
            "UID": [
                "* 1 FETCH (UID 3 FLAGS (\\Seen \\Recent))",
                "* 2 FETCH (FLAGS () UID 5)",
                "* 3 FETCH (UID 7 MODSEQ (12) FLAGS ($Label1 \\Flagged))",
                "* 4 FETCH (FLAGS (\\Deleted))",
                "* 5 EXISTS",
                # A literal whose text looks like the end of the answer must not end it.
                "* 4 FETCH (UID 8 BODY[HEADER.FIELDS (SUBJECT)] {{19}}",
                "{tag} OK not the end",
                " FLAGS (\\Answered))",
                "* 5 FETCH (UID 9 FLAGS (\\Seen))",
                "{tag} OK FETCH completed.",
            ],
        }
    )
    with ImapSession(Endpoint("127.0.0.1", scans.port, "none"), ALEX, TOKEN) as session:
        session.select("INBOX")
        flags = session.flags()

    assert flags == {
        3: frozenset({"\\Seen"}),
        5: frozenset(),
        7: frozenset({"$Label1", "\\Flagged"}),
        8: frozenset({"\\Answered"}),
        9: frozenset({"\\Seen"}),
    }
    assert session.commands["UID FETCH FLAGS"] == 1


def test_a_flag_scan_cut_by_throttling_says_how_long_to_wait(imap_stand_in):
    throttles = imap_stand_in(
        answers={
            "EXAMINE": EXAMINED,
            "UID": [
                "* 1 FETCH (UID 3 FLAGS (\\Seen))",
                "* BYE Request is throttled. Suggested Backoff Time: 4000 milliseconds",
            ],
        }
    )
    session = ImapSession(Endpoint("127.0.0.1", throttles.port, "none"), ALEX, TOKEN)
    session.select("INBOX")

    with pytest.raises(MailServerError) as refused:
        session.flags()

    assert refused.value.kind == "imap_throttled" and refused.value.retry_after == 4
