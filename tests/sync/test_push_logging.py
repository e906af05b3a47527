"""Push watchers log an unexpected failure with its traceback, and the log never carries the
mailbox's access token in any form it takes on the wire: the watcher signs in to the real Dovecot
with a token of the local identity provider, then fails in a way that quotes them."""

import base64
import imaplib
import logging

import pytest

from oroflask.connection.models import MicrosoftGrant
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from oroflask.mailservers import ImapSession, xoauth2
from oroflask.sync import push
from tests.dovecot.fixtures import ALEX

from .test_push import start_watchers, wait_until  # noqa: F401  (start_watchers: a fixture)


@pytest.fixture
def mail_server(dovecot):
    return dovecot


def access_token_of(app, mailbox_id: int) -> str:
    with app.app_context():
        mailbox = db.session.get(Mailbox, mailbox_id)
        return decrypt(db.session.get(MicrosoftGrant, mailbox.grant_id).access_token_encrypted)


def test_an_unexpected_failure_after_sign_in_is_logged_without_the_token(
    app, mail_server, mailbox_id, start_watchers, monkeypatch, capsys, caplog  # noqa: F811
):
    signed_in = []
    select = ImapSession.select

    def select_then_fail(session, name, **options):
        """Open the folder on the real server, then fail as a bug in the IMAP layer might: with the
        sign-in's wire form in the exception's text, in the one it was raised from, and in a local."""
        select(session, name, **options)
        wire = xoauth2(session.address, token)
        encoded = base64.b64encode(wire.encode()).decode()
        signed_in.append(name)
        try:
            raise imaplib.IMAP4.error(f"AUTHENTICATE XOAUTH2 {encoded} answered oddly")
        except imaplib.IMAP4.error as error:
            raise RuntimeError(f"unexpected state after {wire!r} ({token}): {error}") from error

    token = access_token_of(app, mailbox_id)
    monkeypatch.setattr(ImapSession, "select", select_then_fail)
    failures = []
    monkeypatch.setattr(push.Watcher, "_backoff", staticmethod(lambda count: failures.append(count) or 60.0))
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        watchers = start_watchers()
        wait_until(lambda: failures, what="the watcher's failure")
        watchers.stop()
        watchers.wait(5)

    assert signed_in == ["INBOX"]
    written = capsys.readouterr().err
    logged = caplog.text
    assert f"Push of mailbox {mailbox_id} failed; again in 60.0 s" in written
    assert "Traceback" in written and "RuntimeError: unexpected state after" in written
    encoded = base64.b64encode(xoauth2(ALEX, token).encode()).decode()
    for log in (written, logged):
        assert "RuntimeError" in log
        assert token not in log
        assert encoded not in log and encoded[:24] not in log
        assert "auth=Bearer" not in log
