"""Exchange Online's own refusals, from loopback stand-ins that answer with its exact lines; and
servers that never answer, hang up, or are not there at all."""

import logging
import time

import pytest

from oroflask.mailservers import MICROSOFT_SMTP, Endpoint, MailServerError, check_imap, check_smtp
from oroflask.mailservers.errors import smtp_refusal
from tests.dovecot.server import free_port

ADDRESS = "adele@contoso.onmicrosoft.com"
TOKEN = "EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z/VbCPEz0AAUvQ7AxR1Nf3ZEB0" + "x" * 1200


def plain(server) -> Endpoint:
    return Endpoint("127.0.0.1", server.port, "none")


def refused_imap(server, access_token=TOKEN, **timeouts) -> MailServerError:
    with pytest.raises(MailServerError) as refused:
        check_imap(plain(server), ADDRESS, access_token, **timeouts)
    return refused.value


def refused_smtp(server, access_token=TOKEN, **timeouts) -> MailServerError:
    with pytest.raises(MailServerError) as refused:
        check_smtp(plain(server), ADDRESS, access_token, **timeouts)
    return refused.value


def test_exchange_folders_are_listed_with_roles_parents_and_noselect(imap_stand_in):
    check = check_imap(plain(imap_stand_in()), ADDRESS, TOKEN)

    folders = {folder.name: folder for folder in check.folders}
    assert {name: folder.special for name, folder in folders.items()} == {
        "INBOX": "inbox",
        "Archive": "archive",
        "Archive/2025": None,
        "Deleted Items": "trash",
        "Drafts": "drafts",
        "Junk Email": "junk",
        "Sent Items": "sent",
        "Projects": None,
        "Projects/Sent": None,
    }
    assert folders["Archive/2025"].parent == "Archive"
    assert folders["Projects"].selectable is False and folders["Projects/Sent"].selectable is True
    assert "CLIENTACCESSRULES" in check.capabilities


def test_the_xoauth2_response_names_the_mailbox_and_the_token(imap_stand_in):
    server = imap_stand_in(answers={"AUTHENTICATE": ["{tag} NO {received}"]})

    refused = refused_imap(server, access_token="short-token")

    # The stand-in echoes what it received; a short token is not caught by the token-like pattern.
    assert refused.server_said == f"user={ADDRESS}\x01auth=Bearer [hidden]\x01\x01"


def test_authenticate_failed_lists_every_cause_with_its_fix(imap_stand_in):
    refused = refused_imap(imap_stand_in(answers={"AUTHENTICATE": ["{tag} NO AUTHENTICATE failed."]}))

    assert refused.kind == "imap_auth_failed" and refused.server_said == "AUTHENTICATE failed."
    for cause in (
        "IMAP is turned off for the mailbox",
        "no Exchange Online licence",
        "has no Full Access",
        "IMAP.AccessAsUser.All permission",
        "the token was rejected",
    ):
        assert cause in refused.cause
    assert f"Set-CASMailbox -Identity {ADDRESS} -ImapEnabled $true" in refused.fix
    assert "Licenses and apps" in refused.fix and "sign in again" in refused.fix


def test_throttling_says_how_long_to_wait(imap_stand_in):
    server = imap_stand_in(
        answers={"LIST": ["{tag} BAD Request is throttled. Suggested Backoff Time: 12500 milliseconds"]}
    )

    refused = refused_imap(server)

    assert refused.kind == "imap_throttled" and refused.retry_after == 13
    assert refused.title == f"The IMAP server is throttling requests for {ADDRESS}"
    assert "wait 13 seconds" in refused.cause
    assert refused.server_said == "Request is throttled. Suggested Backoff Time: 12500 milliseconds"
    assert refused.reconnect_needed is False


def test_authenticated_but_not_connected_points_at_the_mailbox_rights(imap_stand_in):
    server = imap_stand_in(
        answers={
            "LIST": ["{tag} BAD User is authenticated but not connected.", "* BYE Connection closed. 14"]
        }
    )

    refused = refused_imap(server)

    assert refused.kind == "imap_not_connected"
    assert refused.title == f"Signed in, but the IMAP server did not open the mailbox {ADDRESS}"
    assert "Full Access" in refused.fix and refused.server_said == "User is authenticated but not connected."


def test_a_server_without_xoauth2_is_named(imap_stand_in):
    server = imap_stand_in(
        answers={"CAPABILITY": ["* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE", "{tag} OK CAPABILITY completed."]}
    )

    refused = refused_imap(server)

    assert refused.kind == "imap_no_xoauth2"
    assert "outlook.office365.com, port 993" in refused.fix
    assert refused.server_said == "IMAP4REV1 AUTH=PLAIN IDLE"


def test_smtp_auth_disabled_gives_the_setting_and_the_powershell_command(smtp_stand_in):
    server = smtp_stand_in(
        answers={
            "AUTH": [
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
                "Tenant. "
                "Visit https://aka.ms/smtp_auth_disabled for more information. [MW4PR03CA0001.namprd03.prod]"
            ]
        }
    )

    refused = refused_smtp(server)

    assert refused.protocol == "SMTP" and refused.kind == "smtp_auth_disabled"
    assert refused.title == f"SMTP AUTH is turned off for {ADDRESS}"
    assert f"Set-CASMailbox -Identity {ADDRESS} -SmtpClientAuthenticationDisabled $false" in refused.fix
    assert "Manage email apps › Authenticated SMTP" in refused.fix
    assert "Set-TransportConfig -SmtpClientAuthenticationDisabled $false" in refused.fix
    assert refused.server_said.startswith("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication")
    assert refused.reconnect_needed is False


def test_exchanges_535_5_7_3_means_the_token_was_rejected(smtp_stand_in):
    server = smtp_stand_in(answers={"AUTH": ["535 5.7.3 Authentication unsuccessful [MW4PR03CA0001.prod]"]})

    refused = refused_smtp(server)

    assert refused.kind == "smtp_auth_failed" and "SMTP.Send" in refused.fix
    assert refused.server_said == "535 5.7.3 Authentication unsuccessful [MW4PR03CA0001.prod]"
    assert refused.reconnect_needed is True


def test_a_temporary_smtp_refusal_says_to_try_again_later(smtp_stand_in):
    server = smtp_stand_in(
        answers={"AUTH": ["432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=MW4PR03]"]}
    )

    refused = refused_smtp(server)

    assert refused.kind == "smtp_try_later" and "try again in a few minutes" in refused.fix
    assert refused.server_said.startswith("432 4.3.2 STOREDRV.ClientSubmit")


def test_smtp_reports_what_exchange_offers(smtp_stand_in):
    check = check_smtp(plain(smtp_stand_in()), ADDRESS, TOKEN)

    assert check.size_limit == 157286400
    assert check.auth_mechanisms == ("LOGIN", "XOAUTH2")
    assert "smtputf8" in check.extensions


def test_a_server_without_starttls_is_refused(smtp_stand_in):
    with pytest.raises(MailServerError) as refused:
        check_smtp(Endpoint("127.0.0.1", smtp_stand_in().port, "starttls"), ADDRESS, TOKEN)

    assert refused.value.kind == "smtp_starttls_unavailable"


def test_send_as_denied_says_who_must_be_given_send_as_on_which_mailbox():
    refused = smtp_refusal(
        MICROSOFT_SMTP,
        ADDRESS,
        554,
        f"5.2.252 SendAsDenied; {ADDRESS} not allowed to send as sales@contoso.onmicrosoft.com",
    )

    assert refused.kind == "smtp_send_as_denied"
    grant = f"-Identity sales@contoso.onmicrosoft.com -Trustee {ADDRESS} -AccessRights SendAs"
    assert f"Add-RecipientPermission {grant}" in refused.fix
    assert refused.server_said.startswith("554 5.2.252 SendAsDenied")


def test_send_as_denied_without_a_sender_names_a_placeholder():
    refused = smtp_refusal(MICROSOFT_SMTP, ADDRESS, 554, "5.2.252 SendAsDenied")

    assert f"Add-RecipientPermission -Identity SENDER-ADDRESS -Trustee {ADDRESS}" in refused.fix


@pytest.mark.parametrize("protocol", ["IMAP", "SMTP"])
def test_a_server_that_never_answers_is_given_up_on_in_time(imap_stand_in, smtp_stand_in, protocol):
    check, stand_in = (check_imap, imap_stand_in) if protocol == "IMAP" else (check_smtp, smtp_stand_in)
    server = stand_in(silent=True)
    started = time.monotonic()

    with pytest.raises(MailServerError) as refused:
        check(plain(server), ADDRESS, TOKEN, connect_timeout=0.5, read_timeout=5, deadline=1)

    assert time.monotonic() - started < 2
    assert refused.value.kind == "timeout" and refused.value.protocol == protocol
    assert refused.value.title == f"127.0.0.1:{server.port} did not answer in time"


def test_a_server_that_stalls_after_sign_in_is_given_up_on_at_the_deadline(imap_stand_in):
    server = imap_stand_in(answers={"LIST": []})
    started = time.monotonic()

    refused = refused_imap(server, read_timeout=10, deadline=1)

    assert time.monotonic() - started < 2
    assert refused.kind == "timeout" and "within 1" in refused.cause


@pytest.mark.parametrize("protocol", ["IMAP", "SMTP"])
def test_a_server_that_stops_answering_mid_sign_in_trips_the_read_timeout(
    imap_stand_in, smtp_stand_in, protocol
):
    if protocol == "IMAP":
        server, check = imap_stand_in(answers={"AUTHENTICATE": []}), check_imap
    else:
        server, check = smtp_stand_in(answers={"AUTH": []}), check_smtp
    started = time.monotonic()

    with pytest.raises(MailServerError) as refused:
        check(plain(server), ADDRESS, TOKEN, read_timeout=0.5, deadline=10)

    assert time.monotonic() - started < 2
    assert refused.value.kind == "timeout" and refused.value.protocol == protocol


@pytest.mark.parametrize("protocol", ["IMAP", "SMTP"])
def test_a_server_that_hangs_up_is_explained(imap_stand_in, smtp_stand_in, protocol):
    check, stand_in = (check_imap, imap_stand_in) if protocol == "IMAP" else (check_smtp, smtp_stand_in)

    with pytest.raises(MailServerError) as refused:
        check(plain(stand_in(hang_up=True)), ADDRESS, TOKEN)

    assert refused.value.kind == "connection_closed"
    assert refused.value.title == "127.0.0.1 closed the connection"


@pytest.mark.parametrize("check", [check_imap, check_smtp])
def test_a_closed_port_is_a_refused_connection(check):
    port = free_port()

    with pytest.raises(MailServerError) as refused:
        check(Endpoint("127.0.0.1", port, "none"), ADDRESS, TOKEN)

    assert refused.value.kind == "connection_refused"
    assert refused.value.title == f"Nothing answers at 127.0.0.1:{port}"


def test_an_unknown_host_is_explained():
    with pytest.raises(MailServerError) as refused:
        check_imap(Endpoint("mail.example.invalid", 993, "tls"), ADDRESS, TOKEN)

    assert refused.value.kind == "unknown_host"
    assert refused.value.title == "The IMAP server mail.example.invalid could not be found"
    assert "outlook.office365.com, port 993, TLS" in refused.value.fix


def test_a_token_the_server_echoes_is_hidden_everywhere(imap_stand_in, smtp_stand_in, caplog):
    caplog.set_level(logging.DEBUG)
    errors = [
        refused_imap(imap_stand_in(answers={"AUTHENTICATE": ["{tag} NO AUTHENTICATE failed: {received}"]})),
        refused_smtp(smtp_stand_in(answers={"AUTH": ["535 5.7.3 Authentication unsuccessful: {received}"]})),
        refused_imap(imap_stand_in(answers={"LIST": ["{tag} BAD Request is throttled: {received}"]})),
    ]
    check_imap(plain(imap_stand_in()), ADDRESS, TOKEN)

    for error in errors:
        shown = " ".join([str(error), repr(error), error.title, error.cause, error.fix, error.server_said])
        assert TOKEN[:40] not in shown and "[hidden]" in error.server_said
        assert error.__cause__ is None and error.__context__ is None
    assert TOKEN[:40] not in caplog.text
