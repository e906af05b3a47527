"""Sending a message over SMTP submission: what Exchange Online answers at each step, from a
loopback stand-in with its exact lines (the Dovecot tests are in tests/sending/)."""

import pytest

from oroflask.mailservers import Endpoint, MailServerError, send_message
from oroflask.mailservers.errors import TEMPORARY_KINDS

ADDRESS = "adele@contoso.onmicrosoft.com"
SALES = "sales@contoso.onmicrosoft.com"
TOKEN = "EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z/VbCPEz0AAUvQ7AxR1Nf3ZEB0" + "x" * 1200
MESSAGE = b"From: adele@contoso.onmicrosoft.com\r\nTo: alex@contoso.onmicrosoft.com\r\nSubject: Hi\r\n\r\n.Hello.\r\n"
SEND_AS_DENIED = (
    "554 5.2.252 SendAsDenied; adele@contoso.onmicrosoft.com not allowed to send as "
    "sales@contoso.onmicrosoft.com; STOREDRV.Submission.Exception:SendAsDeniedException."
    "MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message "
    "[BeginDiagnosticData]Cannot submit message. 0.35250:0A000000[EndDiagnosticData]"
)


def plain(server) -> Endpoint:
    return Endpoint("127.0.0.1", server.port, "none")


def refused(server, address=ADDRESS, message=MESSAGE, recipients=("alex@contoso.onmicrosoft.com",)):
    with pytest.raises(MailServerError) as error:
        send_message(plain(server), address, TOKEN, message, list(recipients))
    return error.value


def test_the_message_is_sent_to_every_recipient_with_its_dots_kept(smtp_stand_in):
    server = smtp_stand_in()

    sent = send_message(plain(server), ADDRESS, TOKEN, MESSAGE, ["alex@contoso.onmicrosoft.com", "lee@x.test"])

    assert sent.recipients == ("alex@contoso.onmicrosoft.com", "lee@x.test")
    assert sent.size == len(MESSAGE)
    assert sent.server_said.startswith("2.0.0 OK")
    assert server.messages == [MESSAGE.replace(b"\r\n.Hello", b"\r\n..Hello")]


def test_send_as_denied_names_the_mailbox_and_the_account_to_give_send_as(smtp_stand_in):
    server = smtp_stand_in(answers={"DATA END": [SEND_AS_DENIED]})

    error = refused(server, address=SALES)

    assert error.kind == "smtp_send_as_denied"
    assert "Add-RecipientPermission -Identity sales@contoso.onmicrosoft.com -Trustee" in error.fix
    assert error.server_said.startswith("554 5.2.252 SendAsDenied")
    assert error.kind not in TEMPORARY_KINDS


@pytest.mark.parametrize(
    "answer, kind",
    [
        ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.",
         "smtp_auth_disabled"),
        ("535 5.7.3 Authentication unsuccessful [MW4PR03CA0001.namprd03.prod.outlook.com]", "smtp_auth_failed"),
    ],
)
def test_a_refused_sign_in_sends_nothing(smtp_stand_in, answer, kind):
    server = smtp_stand_in(answers={"AUTH": [answer]})

    assert refused(server).kind == kind
    assert server.messages == []


def test_a_refused_recipient_is_named_and_nothing_is_sent(smtp_stand_in):
    server = smtp_stand_in(
        answers={"RCPT TO:<nobody@contoso.onmicrosoft.com>": ["550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found"]}
    )

    error = refused(server, recipients=["alex@contoso.onmicrosoft.com", "nobody@contoso.onmicrosoft.com"])

    assert error.kind == "smtp_recipient_refused"
    assert "nobody@contoso.onmicrosoft.com" in error.title
    assert server.messages == []


@pytest.mark.parametrize("step", ["MAIL", "RCPT TO:<alex@contoso.onmicrosoft.com>", "DATA END"])
def test_a_4xx_at_any_step_is_temporary(smtp_stand_in, step):
    server = smtp_stand_in(answers={step: ["451 4.7.500 Server busy. Please try again later."]})

    error = refused(server)

    assert error.kind == "smtp_try_later"
    assert error.kind in TEMPORARY_KINDS


def test_a_message_over_the_servers_size_is_refused_before_it_is_sent(smtp_stand_in):
    ehlo = ["250-stand-in", "250-SIZE 1000", "250 AUTH XOAUTH2"]
    server = smtp_stand_in(answers={"EHLO": ehlo})

    error = refused(server, message=MESSAGE + b"x" * 2000)

    assert error.kind == "smtp_message_too_large"
    assert "0.001 MB" in error.cause or "at most" in error.cause
    assert server.messages == []


def test_a_size_refusal_after_data_is_explained(smtp_stand_in):
    server = smtp_stand_in(answers={"DATA END": ["552 5.3.4 Message size exceeds fixed maximum message size"]})

    assert refused(server).kind == "smtp_message_too_large"


def test_the_token_is_never_in_the_error(smtp_stand_in):
    server = smtp_stand_in(answers={"DATA END": ["554 5.6.0 Rejected {received}"]})

    error = refused(server)

    assert "EwBwA8l6" not in f"{error} {error.server_said} {error.cause} {error.fix}"
