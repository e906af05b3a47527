"""Microsoft's errors: the AADSTS code's cause and what the admin must do about it
(oroflask.failures words them for people)."""

import re
from dataclasses import dataclass

AADSTS = re.compile(r"\bAADSTS(\d{4,7})\b")

CLIENT_ID = "client_id"
CLIENT_SECRET = "client_secret"
TENANT = "tenant"


@dataclass(frozen=True)
class Cause:
    """What an error code means and what to do, and which setting it concerns (if any)."""

    title: str
    action: str
    field: str | None = None
    reconnect: bool = False


# Keyed by the AADSTS number (from `error_codes`) or by the OAuth `error` of an authorize redirect.
CAUSES: dict[int | str, Cause] = {
    50011: Cause(
        "The Redirect URI is not registered for this application",
        "In Azure, open App registrations › your application › Authentication and add exactly "
        "this Redirect URI as a Web redirect URI: {redirect_uri}",
    ),
    50194: Cause(
        "This application accepts accounts of its own directory only",
        "Enter your Directory (tenant) ID instead of 'common' or 'organizations'.",
        field=TENANT,
    ),
    700016: Cause(
        "Microsoft does not know this application in this directory",
        "Check the Application (Client) ID and the Directory (tenant) ID; if the application "
        "belongs to another directory, an administrator of this one must consent to it.",
        field=CLIENT_ID,
    ),
    7000215: Cause(
        "The client secret is wrong",
        "Paste the secret's Value (Certificates & secrets › Client secrets › Value), "
        "not its Secret ID.",
        field=CLIENT_SECRET,
    ),
    7000222: Cause(
        "The client secret has expired",
        "In Azure, create a new client secret under Certificates & secrets and paste its Value here.",
        field=CLIENT_SECRET,
    ),
    90002: Cause(
        "Microsoft does not know this directory",
        "Check the Directory (tenant) ID: copy it from the application's Overview page.",
        field=TENANT,
    ),
    900023: Cause(
        "The Directory (tenant) ID is not valid",
        "Enter a tenant GUID or a verified domain such as contoso.onmicrosoft.com.",
        field=TENANT,
    ),
    65001: Cause(
        "Consent to this application is missing",
        "Sign in again and accept the permissions, or ask an administrator to grant consent for "
        "the organisation (API permissions › Grant admin consent).",
    ),
    65004: Cause(
        "The permissions were declined",
        "Click {button} again and accept the permissions, or ask an administrator to grant consent "
        "for the organisation.",
    ),
    50020: Cause(
        "The account belongs to another directory",
        "Sign in with an account of the configured directory, or check the Directory (tenant) ID.",
    ),
    500011: Cause(
        "Exchange Online is not present in this directory",
        "The directory needs Exchange Online (an Office 365 subscription with mailboxes).",
    ),
    53003: Cause(
        "A Conditional Access policy blocked the sign-in",
        "Sign in from a device and place the policy allows, or ask your administrator.",
    ),
    50076: Cause(
        "Multi-factor authentication is required",
        "Click {button} again and complete the multi-factor sign-in.",
    ),
    54005: Cause(
        "This authorization was already used",
        "Click {button} again to start a new authorization.",
    ),
    70000: Cause(
        "The stored authorization is no longer valid", "Reconnect to authorize again.", reconnect=True
    ),
    70008: Cause(
        "The stored authorization has expired", "Reconnect to authorize again.", reconnect=True
    ),
    700082: Cause(
        "The stored authorization expired after a long time unused",
        "Reconnect to authorize again; schedule `flask refresh-tokens` so it does not happen again.",
        reconnect=True,
    ),
    50173: Cause(
        "The authorization was revoked (password change or an administrator's action)",
        "Reconnect to authorize again.",
        reconnect=True,
    ),
    700005: Cause(
        "The authorization code belongs to another directory",
        "Click {button} again without changing the Directory (tenant) ID in between.",
    ),
    501481: Cause(
        "The authorization could not be completed (PKCE check failed)",
        "Click {button} again; if it happens again, report it with the trace ID below.",
    ),
    9001023: Cause(
        "The credentials can only be checked against a concrete directory",
        "Enter your Directory (tenant) ID instead of 'common' or 'organizations'.",
        field=TENANT,
    ),
    "access_denied": Cause(
        "The sign-in was cancelled or the permissions were declined",
        "Click {button} again and accept the permissions.",
    ),
    "invalid_grant": Cause(
        "The stored authorization is no longer valid", "Reconnect to authorize again.", reconnect=True
    ),
    "invalid_client": Cause(
        "Microsoft refused the application's credentials",
        "Check the Application (Client) ID and the client secret's Value.",
        field=CLIENT_SECRET,
    ),
}

UNKNOWN = Cause(
    "Microsoft refused the request",
    "Check the settings above and try again; give the trace and correlation IDs to support.",
)


class MicrosoftError(Exception):
    """An error answered by Microsoft; holds only what can be shown: no token, code or secret."""

    def __init__(
        self,
        error: str,
        codes: list[int] | None = None,
        trace_id: str | None = None,
        correlation_id: str | None = None,
        status: int | None = None,
    ):
        super().__init__(error)
        self.error = error
        self.codes = codes or []
        self.trace_id = trace_id
        self.correlation_id = correlation_id
        self.status = status

    @classmethod
    def from_body(cls, body: dict, status: int | None = None) -> "MicrosoftError":
        """Build the error from a token-endpoint or discovery error body."""
        codes = [code for code in body.get("error_codes") or [] if isinstance(code, int)]
        return cls(
            str(body.get("error") or "unknown_error")[:100],
            codes,
            _identifier(body.get("trace_id")),
            _identifier(body.get("correlation_id")),
            status,
        )

    @classmethod
    def from_redirect(cls, error: str, description: str | None) -> "MicrosoftError":
        """Build the error from the `error` and `error_description` of an authorize redirect.

        The redirect carries no `error_codes`: the AADSTS number is read from the description.
        """
        codes = [int(number) for number in AADSTS.findall(description or "")[:1]]
        trace = re.search(r"Trace ID: ([0-9a-fA-F-]{36})", description or "")
        correlation = re.search(r"Correlation ID: ([0-9a-fA-F-]{36})", description or "")
        return cls(
            re.sub(r"[^a-z_]", "", error.lower())[:100] or "unknown_error",
            codes,
            trace.group(1) if trace else None,
            correlation.group(1) if correlation else None,
        )

    @property
    def code(self) -> int | None:
        return self.codes[0] if self.codes else None

    @property
    def cause(self) -> Cause:
        for code in self.codes:
            if code in CAUSES:
                return CAUSES[code]
        return CAUSES.get(self.error, UNKNOWN)

    @property
    def reconnect_needed(self) -> bool:
        """Tell whether the stored authorization is dead for good (not a passing failure)."""
        return self.cause.reconnect or self.error == "invalid_grant"


class ProviderUnavailable(Exception):
    """Microsoft could not be reached, was too slow, or answered with a server error."""


class IdTokenRejected(Exception):
    """The id_token failed a check; the message names the check, never the token."""


class UnusableAnswer(Exception):
    """Microsoft's answer on the Redirect URI cannot be redeemed; the message says why, never the
    code or a token."""


def _identifier(value) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F-]{1,64}", value):
        return value
    return None
