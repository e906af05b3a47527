"""The test Dovecot itself: mail delivered over LMTP and mail submitted over SMTP reach the Inbox."""

import smtplib
import ssl
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient

from oroflask.mailservers import xoauth2

from . import server
from .fixtures import ADELE, ALEX, SALES, revoke_token, sign_in_for_token, started_dovecot, unavailable

# Dovecot hands checkpassword "mailbox\0token\0" in at most 512 bytes.
CHECKPASSWORD_LIMIT = 512


def inbox_subjects(dovecot, address: str, access_token: str) -> list[str]:
    """Return the subjects of the messages in a mailbox's Inbox."""
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    with IMAPClient("localhost", dovecot.imaps_port, ssl_context=context, timeout=10) as client:
        client.oauth2_login(address, access_token)
        client.select_folder("INBOX", readonly=True)
        messages = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        return [
            data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
            for data in messages.values()
        ]


def test_a_message_delivered_over_lmtp_is_in_the_inbox(dovecot, mail_identity_provider):
    dovecot.deliver(ALEX, subject="Delivered over LMTP")

    access_token = sign_in_for_token(mail_identity_provider, ALEX)
    assert "Delivered over LMTP" in inbox_subjects(dovecot, ALEX, access_token)


def test_a_message_submitted_over_smtp_arrives_in_the_recipients_inbox(dovecot, mail_identity_provider):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = ADELE, ALEX, "Submitted with XOAUTH2"
    message.set_content("Hello Alex.")
    access_token = sign_in_for_token(mail_identity_provider, ADELE)

    with smtplib.SMTP("localhost", dovecot.submission_port, timeout=10) as submission:
        submission.starttls(context=ssl.create_default_context(cafile=str(dovecot.ca_file)))
        response = xoauth2(ADELE, access_token)
        submission.auth("XOAUTH2", lambda challenge=None: response, initial_response_ok=False)
        submission.send_message(message)

    access_token = sign_in_for_token(mail_identity_provider, ALEX)
    assert "Submitted with XOAUTH2" in inbox_subjects(dovecot, ALEX, access_token)


def capabilities_after_login(dovecot, address: str, access_token: str) -> set[bytes]:
    """Return what the server advertises to a logged-in client."""
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    with IMAPClient("localhost", dovecot.imaps_port, ssl_context=context, timeout=10) as client:
        client.oauth2_login(address, access_token)
        return set(client.capabilities())


def test_the_exchange_like_server_hides_condstore(dovecot, mail_identity_provider):
    capabilities = capabilities_after_login(dovecot, ALEX, sign_in_for_token(mail_identity_provider, ALEX))

    assert b"IDLE" in capabilities and b"MOVE" in capabilities
    assert not capabilities & {b"CONDSTORE", b"QRESYNC", b"ESEARCH"}


def test_the_full_server_advertises_condstore_qresync_and_esearch(dovecot_condstore, mail_identity_provider):
    access_token = sign_in_for_token(mail_identity_provider, ALEX)

    capabilities = capabilities_after_login(dovecot_condstore, ALEX, access_token)

    assert {b"CONDSTORE", b"QRESYNC", b"ESEARCH", b"IDLE"} <= capabilities


def test_a_plain_password_opens_any_mailbox_beside_xoauth2(mail_identity_provider):
    server = started_dovecot(mail_identity_provider, capabilities="full", plain_password="s3cret-pass")
    try:
        server.deliver(ALEX, subject="Read with a password")
        context = ssl.create_default_context(cafile=str(server.ca_file))
        with IMAPClient("localhost", server.imaps_port, ssl_context=context, timeout=10) as client:
            client.login(ALEX, "s3cret-pass")
            assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
        with IMAPClient("localhost", server.imaps_port, ssl_context=context, timeout=10) as client:
            with pytest.raises(IMAPClient.Error):
                client.login(ALEX, "wrong")
        access_token = sign_in_for_token(mail_identity_provider, ALEX)
        assert "Read with a password" in inbox_subjects(server, ALEX, access_token)
    finally:
        server.stop()


def test_dovecots_own_token_check_opens_the_owners_mailbox_only(mail_identity_provider):
    server = started_dovecot(mail_identity_provider, token_check="introspection")
    try:
        server.deliver(ALEX, subject="Checked by Dovecot")
        alex, adele = (sign_in_for_token(mail_identity_provider, address) for address in (ALEX, ADELE))

        assert inbox_subjects(server, ALEX, alex) == ["Checked by Dovecot"]
        for address, token in ((ALEX, adele), (SALES, adele)):  # another's mailbox, a shared one
            with pytest.raises(IMAPClient.Error):
                inbox_subjects(server, address, token)
        revoke_token(mail_identity_provider, alex)
        with pytest.raises(IMAPClient.Error):
            inbox_subjects(server, ALEX, alex)
    finally:
        server.stop()


def test_an_unknown_capability_set_or_a_password_with_blanks_is_refused():
    with pytest.raises(ValueError, match="program, introspection"):
        server.Dovecot("http://127.0.0.1:1/_devidp/introspect", token_check="jwt")
    with pytest.raises(ValueError, match="exchange, full"):
        server.Dovecot("http://127.0.0.1:1/_devidp/introspect", capabilities="gmail")
    with pytest.raises(ValueError, match="without blanks"):
        server.Dovecot("http://127.0.0.1:1/_devidp/introspect", plain_password="two words")


def test_the_identity_providers_tokens_fit_checkpassword(mail_identity_provider):
    access_token = sign_in_for_token(mail_identity_provider, ADELE)

    # The longest address an SMTP path allows (RFC 5321): 254 characters.
    longest_address = "a" * (254 - len("@contoso.onmicrosoft.com")) + "@contoso.onmicrosoft.com"
    assert len(f"{longest_address}\0{access_token}\0".encode()) <= CHECKPASSWORD_LIMIT


def test_without_dovecot_the_reason_says_what_to_install(monkeypatch):
    monkeypatch.setattr(server.shutil, "which", lambda *args, **kwargs: None)

    assert server.missing() == (
        "Dovecot is not installed: apt-get install dovecot-imapd dovecot-submissiond dovecot-lmtpd"
    )


def test_a_missing_server_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install dovecot-imapd"):
        unavailable("Dovecot is not installed: apt-get install dovecot-imapd")

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install dovecot-imapd"):
        unavailable("Dovecot is not installed: apt-get install dovecot-imapd")
