"""Fixtures for the protocol package's tests: tokens from the local identity provider, stand-ins."""

import pytest

from tests.dovecot.fixtures import sign_in_for_token

from .stand_in import ImapConversation, SmtpConversation, StandIn


@pytest.fixture(scope="session")
def token_for(mail_identity_provider):
    """Return a function that signs a user in and returns a live mail access token."""
    return lambda email: sign_in_for_token(mail_identity_provider, email)


@pytest.fixture
def imap_stand_in():
    """Return a function that starts an Exchange-like IMAP stand-in with scripted answers."""
    started = []

    def start(**behaviour) -> StandIn:
        started.append(StandIn(ImapConversation, **behaviour).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtp_stand_in():
    """Return a function that starts an Exchange-like SMTP stand-in with scripted answers."""
    started = []

    def start(**behaviour) -> StandIn:
        started.append(StandIn(SmtpConversation, **behaviour).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()
