"""Failures answered the way Microsoft answers them: an OAuth error name plus an AADSTS code."""

import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode


class AadstsError(Exception):
    """A request the identity platform refuses, with the AADSTS code the app branches on."""

    def __init__(self, code: int, error: str, message: str, status: int = 400):
        super().__init__(f"AADSTS{code}: {message}")
        self.code = code
        self.error = error
        self.message = message
        self.status = status
        self.trace_id = str(uuid.uuid4())
        self.correlation_id = str(uuid.uuid4())
        self.timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")

    @property
    def description(self) -> str:
        """Return the error_description text, trace details included as Microsoft does."""
        return (
            f"AADSTS{self.code}: {self.message} Trace ID: {self.trace_id} "
            f"Correlation ID: {self.correlation_id} Timestamp: {self.timestamp}"
        )

    def body(self, base_url: str) -> dict:
        """Return the JSON error body of the token, discovery and keys endpoints."""
        return {
            "error": self.error,
            "error_description": self.description,
            "error_codes": [self.code],
            "timestamp": self.timestamp,
            "trace_id": self.trace_id,
            "correlation_id": self.correlation_id,
            "error_uri": f"{base_url}/error?code={self.code}",
        }


class RedirectError(Exception):
    """An authorize failure sent back to the app's redirect URI rather than shown on a page."""

    def __init__(self, redirect_uri: str, error: AadstsError, state: str | None):
        params = {"error": error.error, "error_description": error.description}
        if state is not None:
            params["state"] = state
        super().__init__(error.description)
        self.error = error
        self.location = add_query(redirect_uri, params)


def add_query(uri: str, params: dict) -> str:
    """Return `uri` with `params` appended to its query string."""
    separator = "&" if "?" in uri else "?"
    return uri + separator + urlencode(params)


def missing_parameter(name: str) -> AadstsError:
    """Return the error for a request that lacks a required parameter."""
    return AadstsError(
        900144, "invalid_request", f"The request body must contain the following parameter: '{name}'."
    )


def injected_failure(status: int) -> AadstsError:
    """Return a Microsoft-shaped error for a status a test asked the token endpoint to answer with."""
    if status == 429:
        return AadstsError(
            90055, "temporarily_unavailable", "There are too many incoming requests. Retry later.", status
        )
    if status >= 500:
        return AadstsError(
            90033, "temporarily_unavailable", "A transient error has occurred. Please try again.", status
        )
    if status == 401:
        return AadstsError(7000215, "invalid_client", "Invalid client secret provided.", status)
    return AadstsError(90023, "invalid_request", "The authentication service request is not valid.", status)


# What an administrator must do, shown on the /error page (the table of the project's reference).
REMEDIES = {
    50011: "Register exactly the Redirect URI shown in the message on the app registration.",
    50020: "Sign in with an account of the configured tenant.",
    50034: "Sign in with an account that exists in the directory.",
    50173: "Reconnect: the grant was revoked.",
    50194: "Enter the Directory (tenant) ID instead of 'common' or 'organizations'.",
    54005: "Start the sign-in again; never retry a redemption.",
    65001: "Grant consent (an admin can grant it for the organisation).",
    65004: "The user declined consent: start again and accept.",
    70000: "Reconnect: the grant is not valid.",
    70008: "Reconnect: the code or refresh token expired.",
    90002: "Fix the tenant ID or domain.",
    700005: "Redeem the code at the tenant path it was issued from.",
    700016: "Check the client ID and the tenant.",
    700082: "Reconnect: the refresh token expired from inactivity.",
    900023: "Fix the tenant ID or domain.",
    501481: "The app sent a code_verifier that does not match its code_challenge.",
    7000215: "Paste the secret's Value, not its Secret ID.",
    7000222: "Create a new client secret and paste its Value.",
    9001023: "Use the tenant ID for client credentials, not 'common' or 'consumers'.",
}
