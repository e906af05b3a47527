"""The test Dovecot itself: mail delivered over LMTP and mail submitted over SMTP reach the Inbox."""

import smtplib
import ssl
from email.message import EmailMessage

from imapclient import IMAPClient

from oroflask.mailservers import xoauth2

from .fixtures import ADELE, ALEX, sign_in_for_token


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
