"""IMAP and SMTP checks against a real Dovecot whose logins the local identity provider decides."""

import logging

import pytest

from oroflask.mailservers import Endpoint, MailServerError, check_imap, check_smtp
from tests.dovecot.fixtures import ADELE, ALEX, DIEGO, LEE, SALES, revoke_token

EXCHANGE_FOLDERS = {
    "INBOX": "inbox",
    "Sent Items": "sent",
    "Drafts": "drafts",
    "Deleted Items": "trash",
    "Junk Email": "junk",
    "Archive": "archive",
}


def imaps(dovecot) -> Endpoint:
    return Endpoint("localhost", dovecot.imaps_port, "tls")


def submission(dovecot) -> Endpoint:
    return Endpoint("localhost", dovecot.submission_port, "starttls")


def imap_refusal(dovecot, address, access_token) -> MailServerError:
    with pytest.raises(MailServerError) as refused:
        check_imap(imaps(dovecot), address, access_token, ca_file=str(dovecot.ca_file))
    return refused.value


def smtp_refusal(dovecot, address, access_token) -> MailServerError:
    with pytest.raises(MailServerError) as refused:
        check_smtp(submission(dovecot), address, access_token, ca_file=str(dovecot.ca_file))
    return refused.value


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_personal_mailbox_lists_exchange_folders_with_their_roles(dovecot, token_for, security):
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    endpoint = Endpoint("localhost", port, security)

    check = check_imap(endpoint, ADELE, token_for(ADELE), ca_file=str(dovecot.ca_file))

    assert {folder.name: folder.special for folder in check.folders} == EXCHANGE_FOLDERS
    assert all(folder.selectable and folder.parent is None for folder in check.folders)
    assert {folder.delimiter for folder in check.folders} == {"/"}
    assert check.address == ADELE


def test_the_test_server_advertises_what_exchange_does(dovecot, token_for):
    check = check_imap(imaps(dovecot), ADELE, token_for(ADELE), ca_file=str(dovecot.ca_file))

    assert {"IDLE", "MOVE", "UIDPLUS"} <= set(check.capabilities)
    assert not {"CONDSTORE", "QRESYNC", "ESEARCH"} & set(check.capabilities)


def test_smtp_signs_in_after_starttls_and_sends_nothing(dovecot, token_for):
    access_token = token_for(ADELE)
    relayed = dovecot.log().count("Successfully relayed")

    check = check_smtp(submission(dovecot), ADELE, access_token, ca_file=str(dovecot.ca_file))

    assert "XOAUTH2" in check.auth_mechanisms
    assert "starttls" not in check.extensions  # what the server offers once TLS is on
    assert f"submission-login: Info: Login: user=<{ADELE}>, method=XOAUTH2" in dovecot.log()
    assert dovecot.log().count("Successfully relayed") == relayed


def test_a_delegate_with_full_access_opens_the_shared_mailbox(dovecot, token_for):
    check = check_imap(imaps(dovecot), SALES, token_for(ADELE), ca_file=str(dovecot.ca_file))

    assert {folder.name for folder in check.folders} == set(EXCHANGE_FOLDERS)
    assert f"user=<{SALES}>, method=XOAUTH2" in dovecot.log()


def test_an_account_without_full_access_is_refused_and_told_how_to_grant_it(dovecot, token_for):
    refused = imap_refusal(dovecot, SALES, token_for(ALEX))

    assert refused.protocol == "IMAP" and refused.kind == "imap_auth_failed"
    assert refused.title == f"The IMAP server refused the sign-in to {SALES}"
    assert "has no Full Access" in refused.cause
    grant = f"Add-MailboxPermission -Identity {SALES} -User SIGNED-IN-ACCOUNT -AccessRights FullAccess"
    assert grant in refused.fix
    assert refused.server_said == "[AUTHENTICATIONFAILED] Authentication failed."
    assert refused.reconnect_needed is True


def test_another_users_mailbox_is_refused(dovecot, token_for):
    assert imap_refusal(dovecot, ADELE, token_for(ALEX)).kind == "imap_auth_failed"


def test_a_mailbox_with_imap_disabled_is_refused_and_told_how_to_enable_it(dovecot, token_for):
    access_token = token_for(LEE)

    refused = imap_refusal(dovecot, LEE, access_token)

    assert refused.kind == "imap_auth_failed"
    assert "IMAP is turned off for the mailbox" in refused.cause
    assert f"Set-CASMailbox -Identity {LEE} -ImapEnabled $true" in refused.fix
    assert "Manage email apps › IMAP" in refused.fix
    # SMTP AUTH is a switch of its own.
    assert check_smtp(submission(dovecot), LEE, access_token, ca_file=str(dovecot.ca_file)).address == LEE


def test_a_mailbox_with_smtp_auth_disabled_is_refused_by_smtp_only(dovecot, token_for):
    access_token = token_for(DIEGO)

    refused = smtp_refusal(dovecot, DIEGO, access_token)

    assert refused.protocol == "SMTP" and refused.kind == "smtp_auth_failed"
    assert refused.server_said == "535 5.7.8 Authentication failed."
    assert check_imap(imaps(dovecot), DIEGO, access_token, ca_file=str(dovecot.ca_file)).folders


@pytest.mark.parametrize("spoil", ["wrong", "expired", "revoked"])
def test_a_dead_token_is_refused_over_imap_and_smtp_and_explained(
    dovecot, token_for, mail_identity_provider, spoil
):
    access_token = token_for(ADELE)
    if spoil == "wrong":
        access_token = access_token[::-1]
    else:
        revoke_token(mail_identity_provider, access_token, expire=spoil == "expired")

    imap = imap_refusal(dovecot, ADELE, access_token)
    smtp = smtp_refusal(dovecot, ADELE, access_token)

    assert imap.kind == "imap_auth_failed" and "the token was rejected" in imap.cause
    assert "sign in again" in imap.fix
    assert smtp.kind == "smtp_auth_failed" and "the token was rejected" in smtp.cause
    assert imap.reconnect_needed and smtp.reconnect_needed


def test_no_token_reaches_an_error_or_a_log_line(dovecot, token_for, caplog):
    access_token = token_for(ALEX)
    caplog.set_level(logging.DEBUG)

    errors = [imap_refusal(dovecot, SALES, access_token), smtp_refusal(dovecot, SALES, access_token)]
    check_imap(imaps(dovecot), ALEX, access_token, ca_file=str(dovecot.ca_file))
    check_smtp(submission(dovecot), ALEX, access_token, ca_file=str(dovecot.ca_file))

    assert f"IMAP check of {ALEX}" in caplog.text
    for error in errors:
        shown = " ".join([str(error), repr(error), error.title, error.cause, error.fix, error.server_said])
        assert access_token not in shown
    assert access_token not in caplog.text
    assert access_token[:16] not in caplog.text


def test_a_certificate_from_an_unknown_authority_is_refused(dovecot, token_for):
    with pytest.raises(MailServerError) as refused:
        check_imap(imaps(dovecot), ADELE, token_for(ADELE))

    assert refused.value.kind == "tls_certificate"
    assert refused.value.title == "The certificate of localhost is not trusted"
    assert "unable to get local issuer certificate" in refused.value.cause


def test_tls_spoken_to_a_starttls_port_is_explained(dovecot, token_for):
    with pytest.raises(MailServerError) as refused:
        check_smtp(Endpoint("localhost", dovecot.submission_port, "tls"), ADELE, token_for(ADELE))

    assert refused.value.kind == "tls_failed"
    assert "expect STARTTLS where TLS from the first byte was used" in refused.value.cause
    assert "SMTP 587 with STARTTLS" in refused.value.fix
