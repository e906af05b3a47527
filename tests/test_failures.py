"""One function explains every failure: what went wrong, what to do, the codes for support,
whether only a reconnect helps, when to try again, and the setting at fault."""

import ssl

import pytest

from oroflask.connection.service import NotReady
from oroflask.connection.tokens import NotConnected, ReconnectNeeded
from oroflask.failures import EXPLAINED, RETRY_SOON_SECONDS, Explanation, Failure, explain
from oroflask.mailservers import Endpoint
from oroflask.mailservers.errors import IMAP
from oroflask.mailservers.errors import explain as mail_refusal
from oroflask.microsoft.errors import IdTokenRejected, MicrosoftError, ProviderUnavailable, UnusableAnswer

TRACE = "0c3f5e2a-1b4d-4c6e-8f7a-9b0c1d2e3f40"
CORRELATION = "7d8e9f0a-1b2c-4d3e-8f5a-6b7c8d9e0f1a"
REDIRECT_URI = "https://mail.example.com/oauth/microsoft/callback"


def test_a_wrong_secret_names_its_code_its_trace_and_its_field():
    error = MicrosoftError.from_body(
        {"error": "invalid_client", "error_codes": [7000215], "trace_id": TRACE, "correlation_id": CORRELATION}, 401
    )
    explanation = explain(error)
    assert explanation == Explanation(
        "The client secret is wrong",
        "Paste the secret's Value (Certificates & secrets › Client secrets › Value), not its Secret ID.",
        code="AADSTS7000215",
        trace_id=TRACE,
        correlation_id=CORRELATION,
        field="client_secret",
    )
    assert explanation.summary == "The client secret is wrong (AADSTS7000215)"
    assert explanation.sentence.startswith("The client secret is wrong (AADSTS7000215). Paste the secret's Value")


def test_an_unregistered_redirect_uri_is_named():
    error = MicrosoftError.from_redirect("invalid_request", "AADSTS50011: The redirect URI does not match.")
    explanation = explain(error, redirect_uri=REDIRECT_URI)
    assert explanation.title == "The Redirect URI is not registered for this application"
    assert explanation.action.endswith(f"as a Web redirect URI: {REDIRECT_URI}")
    assert explanation.code == "AADSTS50011" and not explanation.reconnect and explanation.field is None


@pytest.mark.parametrize("code", [50173, 700082, 70008, 70000])
def test_a_dead_authorization_needs_a_reconnect(code):
    explanation = explain(MicrosoftError("invalid_grant", [code]))
    assert explanation.reconnect and explanation.retry_after is None
    assert explanation.action.startswith("Reconnect to authorize again")


def test_an_unknown_microsoft_error_is_still_explained_with_its_oauth_error():
    explanation = explain(MicrosoftError("temporarily_unavailable", [], TRACE))
    assert explanation.title == "Microsoft refused the request"
    assert explanation.code == "temporarily_unavailable" and explanation.trace_id == TRACE
    assert not explanation.reconnect


def test_an_unreachable_microsoft_is_worth_trying_again_later():
    explanation = explain(ProviderUnavailable("microsoft did not answer in time"))
    assert explanation.title == "Microsoft did not answer in time"
    assert explanation.action == "Try again in a moment."
    assert explanation.sentence == "Microsoft did not answer in time. Try again in a moment."
    assert explanation.retry_after == RETRY_SOON_SECONDS and not explanation.reconnect


def test_where_it_is_shown_says_how_to_try_again():
    explanation = explain(ProviderUnavailable("microsoft could not be reached"), again="Click Enable to try again.")
    assert explanation.action == "Click Enable to try again."


def test_a_missing_setting_takes_the_heading_of_what_it_stopped():
    error = NotReady("Enter the Client Secret first.")
    assert explain(error).sentence == "Enter the Client Secret first."
    assert explain(error).summary == "Enter the Client Secret first."
    stopped = explain(error, heading="Enable cannot start")
    assert (stopped.title, stopped.action) == ("Enable cannot start", "Enter the Client Secret first.")
    assert not stopped.reconnect


def test_a_failure_worded_where_it_happened_keeps_its_words():
    error = Failure("The encryption keys changed during the authorization", "Click Enable to start again.")
    explanation = explain(error, heading="ignored: the failure has its own title")
    assert explanation.title == "The encryption keys changed during the authorization"
    assert explanation.action == "Click Enable to start again."


def test_a_dead_or_missing_grant_needs_a_reconnect():
    dead = explain(ReconnectNeeded("The authorization was revoked (AADSTS50173)"))
    assert dead.reconnect and dead.summary == "The authorization was revoked (AADSTS50173)"
    assert explain(NotConnected()).reconnect


def test_answers_that_cannot_be_used_say_nothing_was_stored():
    unusable = explain(UnusableAnswer("the answer has no code"), again="Click Enable to try again.")
    assert unusable.title == "Microsoft's answer could not be used"
    assert unusable.action == "the answer has no code. Click Enable to try again."
    rejected = explain(IdTokenRejected("the nonce does not match"), again="Click Enable to try again.")
    assert rejected.title == "Microsoft's answer failed a security check"
    assert rejected.action == "Nothing was stored: the nonce does not match. Click Enable to try again."


@pytest.mark.parametrize(
    "error, title, retry",
    [
        (TimeoutError("timed out"), "The server did not answer in time", True),
        (ConnectionRefusedError(111, "Connection refused"), "The server could not be reached", True),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "The secure connection to the server failed", False),
    ],
    ids=["time-out", "refused", "tls"],
)
def test_network_failures_are_explained(error, title, retry):
    explanation = explain(error)
    assert explanation.title == title and explanation.action
    assert (explanation.retry_after is not None) is retry


def test_a_bug_is_not_explained_away():
    assert not isinstance(KeyError(), EXPLAINED)
    with pytest.raises(TypeError, match="KeyError"):
        explain(KeyError("a bug, not a failure to explain"))


def test_a_mail_server_refusal_keeps_its_cause_fix_and_the_servers_words():
    endpoint = Endpoint("outlook.office365.com", 993, "tls")
    error = mail_refusal(IMAP, "imap_auth_failed", endpoint, "lee@contoso.com", server_said="a1 NO AUTHENTICATE failed.")
    explanation = explain(error)
    assert explanation.title == "The IMAP server refused the sign-in to lee@contoso.com"
    assert explanation.cause.startswith('The server answered "AUTHENTICATE failed".')
    assert "Set-CASMailbox -Identity lee@contoso.com -ImapEnabled $true" in explanation.action
    assert explanation.server_said == "a1 NO AUTHENTICATE failed."
    assert explanation.code == "imap_auth_failed" and explanation.reconnect
    assert isinstance(error, EXPLAINED)


def test_a_throttled_mail_server_says_when_to_try_again():
    endpoint = Endpoint("outlook.office365.com", 993, "tls")
    error = mail_refusal(IMAP, "imap_throttled", endpoint, "adele@contoso.com", retry_after=12)
    explanation = explain(error)
    assert explanation.retry_after == 12 and not explanation.reconnect
    assert "12 seconds" in explanation.action
