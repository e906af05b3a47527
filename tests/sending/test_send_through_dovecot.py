"""Sending through Dovecot's submission service, whose logins the local identity provider decides:
sent mail arrives in the recipients' mailboxes, from a shared mailbox only with Send As."""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from oroflask.mailservers import Endpoint, MailServerError, send_message
from tests.dovecot.fixtures import ADELE, ALEX, DIEGO, HELPDESK, SALES


def submission(dovecot) -> Endpoint:
    return Endpoint("localhost", dovecot.submission_port, "starttls")


def message(sender: str, recipient: str) -> tuple[bytes, str]:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, recipient, "From the tests"
    mail["Message-ID"] = message_id = make_msgid(domain="contoso.onmicrosoft.com")
    mail.set_content("Hello.")
    return bytes(mail), message_id


def arrived(dovecot, address: str, message_id: str) -> bool:
    found = dovecot.doveadm("search", "-u", address, "mailbox", "INBOX", "header", "message-id", message_id)
    return bool(found.strip())


def send(dovecot, sender: str, access_token: str, recipient: str = ALEX) -> str:
    raw, message_id = message(sender, recipient)
    send_message(submission(dovecot), sender, access_token, raw, [recipient], ca_file=str(dovecot.ca_file))
    return message_id


def test_a_message_sent_from_a_personal_mailbox_arrives(dovecot, token_for):
    message_id = send(dovecot, ADELE, token_for(ADELE))

    assert arrived(dovecot, ALEX, message_id)


def test_a_delegate_with_send_as_sends_as_the_shared_mailbox(dovecot, token_for):
    message_id = send(dovecot, SALES, token_for(ADELE))

    assert arrived(dovecot, ALEX, message_id)
    fetched = dovecot.doveadm("fetch", "-u", ALEX, "hdr.from", "mailbox", "INBOX", "header", "message-id", message_id)
    assert SALES in fetched


def test_a_delegate_without_send_as_is_refused_as_exchange_does(dovecot, token_for):
    with pytest.raises(MailServerError) as refused:
        send(dovecot, HELPDESK, token_for(ALEX), recipient=ADELE)

    error = refused.value
    assert error.kind == "smtp_send_as_denied"
    assert error.title == f"{ALEX} may not send as {HELPDESK}"
    assert f"Add-RecipientPermission -Identity {HELPDESK} -Trustee {ALEX} -AccessRights SendAs" in error.fix


def test_a_mailbox_with_smtp_auth_off_is_refused_explained(dovecot, token_for):
    with pytest.raises(MailServerError) as refused:
        send(dovecot, DIEGO, token_for(DIEGO))

    assert refused.value.kind == "smtp_auth_failed"
    assert "SMTP" in refused.value.title
