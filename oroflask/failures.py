"""Every failure explained the same way: what went wrong, why, what to do about it, and the codes
that support needs. Pages, the status poll and the commands show an Explanation; none of them
tells the kinds of failure apart itself.

A new kind of failure (a mail server's refusal, say) is one more branch of `explain` and one
more entry of `EXPLAINED`; the callers stay as they are.
"""

import ssl
from dataclasses import dataclass

from .mailservers import MailServerError
from .microsoft.errors import IdTokenRejected, MicrosoftError, ProviderUnavailable, UnusableAnswer

# How long a failure that passes by itself (a server down, too slow) is best left before trying again.
RETRY_SOON_SECONDS = 60.0
TRY_AGAIN = "Try again in a moment."


@dataclass(frozen=True)
class Explanation:
    """A failure as people are shown it."""

    title: str  # what went wrong; empty when the action says it all ("Enter the Client Secret first.")
    action: str  # what to do about it
    cause: str = ""  # why, when the title does not say it
    code: str | None = None  # the error's own code: AADSTS7000215, invalid_grant...
    trace_id: str | None = None
    correlation_id: str | None = None
    server_said: str | None = None  # a server's own words, for support; never shown alone
    reconnect: bool = False  # the authorization is dead: only a new sign-in helps
    retry_after: float | None = None  # seconds after which trying again may work by itself
    field: str | None = None  # the Microsoft setting at fault (settings field name)

    @property
    def summary(self) -> str:
        """Say what went wrong in one line, with its code: "The client secret is wrong (AADSTS7000215)"."""
        if not self.title:
            return self.action
        return f"{self.title} ({self.code})" if self.code else self.title

    @property
    def sentence(self) -> str:
        """Say what went wrong and what to do, as one message."""
        if not self.title:
            return self.action
        return " ".join(part for part in (f"{self.summary}.", self.cause, self.action) if part)


class Failure(Exception):
    """A failure that carries its own explanation, worded where it happened."""

    def __init__(self, title: str, action: str = "", *, reconnect: bool = False):
        super().__init__(title or action)
        self.title = title
        self.action = action
        self.reconnect = reconnect


# Whatever explain() knows: `except EXPLAINED as error: show(explain(error))`.
EXPLAINED = (
    Failure,
    MicrosoftError,
    ProviderUnavailable,
    UnusableAnswer,
    IdTokenRejected,
    MailServerError,
    TimeoutError,
    ConnectionError,
    ssl.SSLError,
)


def explain(
    error: BaseException, *, heading: str = "", again: str = TRY_AGAIN, redirect_uri: str = "", button: str = "Enable"
) -> Explanation:
    """Return what to tell about `error`, one of EXPLAINED.

    `heading` says what failed, in the caller's words, for an error that does not (a missing
    setting: "Enable cannot start"); `again` how to try again from where it is shown;
    `redirect_uri` is named by the explanation of an unregistered Redirect URI; `button` is what
    starts the sign-in again where it is shown (Enable, or Connect for a mailbox).
    """
    if isinstance(error, Failure):
        return Explanation(error.title or heading, error.action, reconnect=error.reconnect)
    if isinstance(error, MicrosoftError):
        cause = error.cause
        return Explanation(
            cause.title,
            cause.action.format(redirect_uri=redirect_uri, button=button),
            code=f"AADSTS{error.code}" if error.code else error.error,
            trace_id=error.trace_id,
            correlation_id=error.correlation_id,
            reconnect=error.reconnect_needed,
            field=cause.field,
        )
    if isinstance(error, MailServerError):
        return Explanation(
            error.title,
            error.fix,
            cause=error.cause,
            code=error.kind,
            server_said=error.server_said,
            reconnect=error.reconnect_needed,
            retry_after=error.retry_after,
        )
    if isinstance(error, ProviderUnavailable):
        return Explanation(_capitalized(str(error)), again, retry_after=RETRY_SOON_SECONDS)
    if isinstance(error, UnusableAnswer):
        return Explanation("Microsoft's answer could not be used", f"{error}. {again}")
    if isinstance(error, IdTokenRejected):
        return Explanation("Microsoft's answer failed a security check", f"Nothing was stored: {error}. {again}")
    if isinstance(error, TimeoutError):
        return Explanation("The server did not answer in time", again, retry_after=RETRY_SOON_SECONDS)
    if isinstance(error, ssl.SSLError):
        return Explanation(
            "The secure connection to the server failed",
            "Check the server's name and port; its certificate must be valid for that name.",
            code=getattr(error, "reason", None),
        )
    if isinstance(error, ConnectionError):
        return Explanation("The server could not be reached", again, retry_after=RETRY_SOON_SECONDS)
    raise TypeError(f"no explanation for {type(error).__name__}")


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]
