"""Every way an IMAP or SMTP check can fail, explained in an administrator's words with the fix.

Exchange Online gives one answer for many causes (IMAP "AUTHENTICATE failed"), so an explanation
lists the causes in the order worth checking. The fixes come from Microsoft's pages:
- OAuth for IMAP and SMTP, and the permissions an application needs:
  https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
- IMAP for a mailbox (Set-CASMailbox -ImapEnabled):
  https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/pop3-and-imap4/enable-or-disable-pop3-or-imap4-access
- SMTP AUTH for the organisation and per mailbox (Set-TransportConfig / Set-CASMailbox
  -SmtpClientAuthenticationDisabled; "Authenticated SMTP" in the admin center):
  https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission
- Full Access and Send As on a shared mailbox (Add-MailboxPermission, Add-RecipientPermission):
  https://learn.microsoft.com/powershell/module/exchange/add-mailboxpermission
  https://learn.microsoft.com/powershell/module/exchange/add-recipientpermission
"""

import base64
import math
import re
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .endpoints import Deadline, Endpoint

IMAP = "IMAP"
SMTP = "SMTP"

ADMIN_CENTER_APPS = "Microsoft 365 admin center › Users › Active users › the user › Mail › Manage email apps"
FULL_ACCESS = (
    "Add-MailboxPermission -Identity {address} -User SIGNED-IN-ACCOUNT -AccessRights FullAccess "
    "-InheritanceType All"
)


@dataclass(frozen=True)
class Explanation:
    """The words for one kind of failure; {address}, {host}, {port}, {protocol} and others are filled in."""

    title: str
    cause: str
    fix: str
    reconnect_needed: bool = False


EXPLANATIONS = {
    "imap_auth_failed": Explanation(
        "The IMAP server refused the sign-in to {address}",
        "The server answered \"AUTHENTICATE failed\". Exchange Online gives this one answer for "
        "several causes: IMAP is turned off for the mailbox; the mailbox has no Exchange Online "
        "licence; {address} is a shared mailbox and the account that signed in has no Full Access to "
        "it; the application was not granted the IMAP.AccessAsUser.All permission; or the token was "
        "rejected (expired, revoked, or issued to another account).",
        "Check, in this order: 1. IMAP is on for the mailbox: " + ADMIN_CENTER_APPS + " › IMAP, or in "
        "Exchange Online PowerShell: Set-CASMailbox -Identity {address} -ImapEnabled $true. "
        "2. The mailbox's account has an Exchange Online licence (Active users › the user › Licenses "
        "and apps). 3. For a shared mailbox, the account that signs in has Full Access: "
        + FULL_ACCESS + ". 4. The app registration in Azure has the delegated permission "
        "IMAP.AccessAsUser.All of Office 365 Exchange Online, with consent granted. 5. Then sign in "
        "again, with the mailbox's own account or the one that has Full Access. Changes in Exchange "
        "can take up to an hour to apply.",
        reconnect_needed=True,
    ),
    "imap_not_connected": Explanation(
        "Signed in, but the IMAP server did not open the mailbox {address}",
        "Exchange Online accepted the token and then answered \"User is authenticated but not "
        "connected\": the account that signed in may not open {address} (another user's mailbox, or a "
        "shared mailbox it has no Full Access to), or {address} is not a mailbox of this organisation.",
        "Use the mailbox's primary address, and sign in with its own account or with an account that "
        "has Full Access to it: " + FULL_ACCESS + ". Then sign in again.",
        reconnect_needed=True,
    ),
    "imap_throttled": Explanation(
        "The IMAP server is throttling requests for {address}",
        "The server asked to wait {retry_after} seconds before the next request: too many "
        "connections or commands reached this mailbox in a short time.",
        "Nothing to change: try again after {retry_after} seconds. If it keeps happening, fewer "
        "programs should connect to this mailbox at once.",
    ),
    "imap_no_xoauth2": Explanation(
        "The IMAP server {host} does not offer sign-in with Microsoft (XOAUTH2)",
        "Its capabilities before sign-in do not include AUTH=XOAUTH2.",
        "Check the IMAP server: for Microsoft 365 it is outlook.office365.com, port 993, TLS.",
    ),
    "imap_starttls_unavailable": Explanation(
        "The IMAP server {host}:{port} does not offer STARTTLS",
        "The connection is set to start plain and switch to TLS, but the server does not offer it.",
        "Use TLS from the start instead (port 993 for IMAP), or check the host and port.",
    ),
    "imap_refused": Explanation(
        "The IMAP server refused a request for {address}",
        "It answered with an error the check does not know.",
        "Try again later. If it stays, give support the server's answer shown below.",
    ),
    "smtp_auth_disabled": Explanation(
        "SMTP AUTH is turned off for {address}",
        "Microsoft 365 answered 535 5.7.139: authenticated SMTP (SMTP AUTH) is disabled for this "
        "mailbox or for the whole organisation (the default in new tenants), or Security defaults "
        "block it.",
        "Turn on Authenticated SMTP for the mailbox: " + ADMIN_CENTER_APPS + " › Authenticated SMTP, or "
        "in Exchange Online PowerShell: Set-CASMailbox -Identity {address} "
        "-SmtpClientAuthenticationDisabled $false. The mailbox's setting wins over the organisation's; "
        "to turn it on for everyone instead: Exchange admin center › Settings › Mail flow › untick "
        "\"Turn off SMTP AUTH protocol for your organization\" (Set-TransportConfig "
        "-SmtpClientAuthenticationDisabled $false). Changes can take up to an hour to apply.",
    ),
    "smtp_auth_failed": Explanation(
        "The SMTP server refused the sign-in for {address}",
        "It answered 535 (authentication unsuccessful): the token was rejected. It may have expired "
        "or been revoked, belong to another account than {address} (SMTP sends as the account that "
        "signed in), or lack the SMTP.Send permission.",
        "Check that the app registration in Azure has the delegated permission SMTP.Send of Office 365 "
        "Exchange Online, with consent granted, then sign in again with the account of {address}.",
        reconnect_needed=True,
    ),
    "smtp_send_as_denied": Explanation(
        "{trustee} may not send as {sender}",
        "Microsoft 365 answered 554 5.2.252 SendAsDenied: the account that signed in has no Send As "
        "permission on the address the message is sent from.",
        "Give the account Send As on the sending mailbox: Microsoft 365 admin center › Teams & groups › "
        "Shared mailboxes › the mailbox › Send as, or in Exchange Online PowerShell: "
        "Add-RecipientPermission -Identity {sender} -Trustee {trustee} -AccessRights SendAs. "
        "Or send from the signed-in account's own address.",
    ),
    "smtp_recipient_refused": Explanation(
        "The SMTP server refused the recipient {recipient}",
        "It answered with a permanent error for this address: it may be mistyped, not exist, or not "
        "accept mail from {address}. Nothing was sent to anyone.",
        "Check the address {recipient}, correct or remove it, and send again.",
    ),
    "smtp_message_too_large": Explanation(
        "The message is too large for the SMTP server",
        "The server takes messages of at most {limit}; this one is {size} once encoded for sending "
        "(attachments grow by a third).",
        "Send fewer or smaller attachments, or share large files by a link.",
    ),
    "smtp_no_xoauth2": Explanation(
        "The SMTP server {host} does not offer sign-in with Microsoft (XOAUTH2)",
        "Its EHLO answer does not list XOAUTH2 among the AUTH mechanisms.",
        "Check the SMTP server: for Microsoft 365 it is smtp.office365.com, port 587, STARTTLS.",
    ),
    "smtp_starttls_unavailable": Explanation(
        "The SMTP server {host}:{port} does not offer STARTTLS",
        "The connection is set to start plain and switch to TLS, but the server does not offer it.",
        "Check the host and port: for Microsoft 365 it is smtp.office365.com, port 587, STARTTLS.",
    ),
    "smtp_try_later": Explanation(
        "The SMTP server asked to try again later",
        "It refused for now (a 4xx answer): too many connections or messages from this mailbox at "
        "once, or a passing fault on its side.",
        "Nothing to change: try again in a few minutes. If it keeps happening, fewer programs should "
        "send from this mailbox at once.",
    ),
    "smtp_refused": Explanation(
        "The SMTP server refused a request for {address}",
        "It answered with an error the check does not know.",
        "Try again later. If it stays, give support the server's answer shown below.",
    ),
    "connection_refused": Explanation(
        "Nothing answers at {host}:{port}",
        "The connection was refused: no {protocol} server listens on that port, or a firewall "
        "rejects the connection.",
        "Check the {protocol} host and port (Microsoft 365: {usual}).",
    ),
    "unknown_host": Explanation(
        "The {protocol} server {host} could not be found",
        "Its name does not resolve to an address (DNS).",
        "Check the spelling of the {protocol} host (Microsoft 365: {usual}) and that this machine can "
        "resolve names.",
    ),
    "tls_certificate": Explanation(
        "The certificate of {host} is not trusted",
        "The secure connection was refused because the server's certificate could not be verified: "
        "{detail}.",
        "Check that the host is the server's real name (Microsoft 365: {usual}). If a proxy on your "
        "network inspects TLS, give its CA certificate file in the settings.",
    ),
    "tls_failed": Explanation(
        "A secure connection to {host}:{port} could not be set up",
        "TLS failed: {detail}. The port may expect STARTTLS where TLS from the first byte was used, "
        "or the reverse.",
        "Check that the security matches the port: IMAP 993 with TLS, SMTP 587 with STARTTLS "
        "(Microsoft 365: {usual}).",
    ),
    "timeout": Explanation(
        "{host}:{port} did not answer in time",
        "No complete answer came within {seconds} seconds: the server is slow or unreachable, or a "
        "firewall silently drops the connection.",
        "Check that this machine may connect to {host} on port {port} (firewall, proxy), then try "
        "again.",
    ),
    "connection_closed": Explanation(
        "{host} closed the connection",
        "The {protocol} server ended the connection before the check was done.",
        "Try again. If it stays, check the host and port (Microsoft 365: {usual}) and the server's "
        "answer below.",
    ),
    "network": Explanation(
        "{host}:{port} could not be reached",
        "The network failed: {detail}.",
        "Check this machine's network connection and firewall, then try again.",
    ),
}

USUAL = {IMAP: "outlook.office365.com, port 993, TLS", SMTP: "smtp.office365.com, port 587, STARTTLS"}
# Anything that looks like a token: a run of 32 or more base64 or base64url characters, with the
# dot-joined parts around it (a JWT). Host names keep their short dot-separated labels.
TOKEN_LIKE = re.compile(r"(?:[A-Za-z0-9+/_~-]+\.)*[A-Za-z0-9+/_~-]{32,}(?:\.[A-Za-z0-9+/_~-]+)*={0,2}")
SEND_AS = re.compile(r"(?:(\S+@[^\s;]+) )?not allowed to send as (\S+@[^\s\];]+)", re.IGNORECASE)
BACKOFF = re.compile(r"Suggested Backoff Time:\s*(\d+)\s*milliseconds", re.IGNORECASE)
# Exchange: "AUTHENTICATE failed."; Dovecot: "[AUTHENTICATIONFAILED] Authentication failed."
AUTHENTICATION_FAILED = re.compile(r"AUTHENTICATE failed|AUTHENTICATIONFAILED", re.IGNORECASE)


# Refusals that pass by themselves: sending them again later may work.
TEMPORARY_KINDS = frozenset({"smtp_try_later", "timeout", "connection_closed", "network", "connection_refused"})


class MailServerError(Exception):
    """An IMAP or SMTP check that failed, with what happened, why, and what to change.

    `kind` is a short stable key; `server_said` is the server's line with anything token-like
    removed; `retry_after` is the seconds the server asked to wait; `reconnect_needed` tells that
    signing in again may be the fix.
    """

    def __init__(
        self,
        protocol: str,
        kind: str,
        title: str,
        cause: str,
        fix: str,
        server_said: str | None = None,
        retry_after: int | None = None,
        reconnect_needed: bool = False,
    ):
        self.protocol = protocol
        self.kind = kind
        self.title = title
        self.cause = cause
        self.fix = fix
        self.server_said = server_said
        self.retry_after = retry_after
        self.reconnect_needed = reconnect_needed
        super().__init__(f"{protocol}: {title}. {cause}")

    def __repr__(self) -> str:
        return f"MailServerError(protocol={self.protocol!r}, kind={self.kind!r}, title={self.title!r})"


def explain(
    protocol: str,
    kind: str,
    endpoint: Endpoint,
    address: str,
    *,
    server_said: str | None = None,
    secrets: Iterable[str] = (),
    retry_after: int | None = None,
    detail: str = "",
    seconds: float | None = None,
    sender: str = "SENDER-ADDRESS",
    trustee: str = "",
    recipient: str = "",
    size: int | None = None,
    limit: int | None = None,
) -> MailServerError:
    """Return the error of this kind, its words filled in and the server's line cleaned of secrets."""
    words = EXPLANATIONS[kind]
    values = {
        "protocol": protocol,
        "address": address,
        "host": endpoint.host,
        "port": endpoint.port,
        "usual": USUAL[protocol],
        "retry_after": retry_after,
        "detail": redact(detail, secrets) or "no detail",
        "seconds": f"{seconds:g}" if seconds is not None else "",
        "sender": sender,
        "trustee": trustee or address,
        "recipient": recipient,
        "size": megabytes(size),
        "limit": megabytes(limit),
    }
    return MailServerError(
        protocol,
        kind,
        words.title.format(**values),
        words.cause.format(**values),
        words.fix.format(**values),
        server_said=redact(server_said, secrets) if server_said else None,
        retry_after=retry_after,
        reconnect_needed=words.reconnect_needed,
    )


def smtp_refusal(
    endpoint: Endpoint,
    address: str,
    code: int,
    words: str,
    secrets: Iterable[str] = (),
    *,
    recipient: str = "",
    size: int | None = None,
) -> MailServerError:
    """Return the explained error of an SMTP reply, from the check or from sending a message.

    `recipient` names the address a RCPT TO was refused for; `size` is the message's, for a
    refusal of its size.
    """
    words = " ".join(words.split())
    kind = smtp_kind(code, words)
    if kind == "smtp_refused" and recipient:
        kind = "smtp_recipient_refused"
    # Exchange names the signed-in account and the refused sender: "SendAsDenied; ME not allowed
    # to send as SENDER".
    send_as = SEND_AS.search(words)
    return explain(
        SMTP,
        kind,
        endpoint,
        address,
        server_said=f"{code} {words}",
        secrets=secrets,
        sender=send_as[2] if send_as else "SENDER-ADDRESS",
        trustee=send_as[1] if send_as and send_as[1] else address,
        recipient=recipient,
        size=size,
    )


def megabytes(size: int | None) -> str:
    """Return a size in bytes as people read it: "25 MB", "1.5 MB", or "an unknown size"."""
    if size is None:
        return "an unknown size"
    return f"{size / 1_000_000:.1f}".removesuffix(".0") + " MB"


def secrets_of(access_token: str, initial_response: str) -> tuple[str, ...]:
    """Return every form a token takes on the wire, so that none of them is ever shown."""
    encoded = base64.b64encode(initial_response.encode()).decode()
    return tuple(value for value in (access_token, initial_response, encoded) if value)


def redact(text: str | None, secrets: Iterable[str] = ()) -> str:
    """Return `text` with the given secrets and anything token-like replaced by [hidden]."""
    if not text:
        return ""
    for secret in secrets:
        text = text.replace(secret, "[hidden]")
    return TOKEN_LIKE.sub("[hidden]", text).strip()


def imap_kind(server_said: str) -> tuple[str, int | None]:
    """Return the kind of an IMAP refusal from the server's words, and the seconds to wait if any."""
    backoff = BACKOFF.search(server_said)
    lowered = server_said.lower()
    if backoff or "request is throttled" in lowered or "[throttled]" in lowered:
        milliseconds = int(backoff[1]) if backoff else 1000
        return "imap_throttled", max(1, math.ceil(milliseconds / 1000))
    if "authenticated but not connected" in lowered:
        return "imap_not_connected", None
    if AUTHENTICATION_FAILED.search(server_said):
        return "imap_auth_failed", None
    return "imap_refused", None


def smtp_kind(code: int, server_said: str) -> str:
    """Return the kind of an SMTP refusal from its reply code and words."""
    if code == 535 and "5.7.139" in server_said:
        return "smtp_auth_disabled"
    if code == 535:
        return "smtp_auth_failed"
    if "5.2.252" in server_said or "SendAsDenied" in server_said:
        return "smtp_send_as_denied"
    # 552 5.2.2 is a full mailbox; 552 alone or 5.3.4 is the message's size.
    if "5.3.4" in server_said or (code == 552 and "5.2.2" not in server_said):
        return "smtp_message_too_large"
    if 400 <= code < 500:
        return "smtp_try_later"
    return "smtp_refused"


def network_refusal(
    error: BaseException, limit: Deadline, refusal: Callable[..., MailServerError]
) -> MailServerError:
    """Return the explained network failure; any failure once the deadline has passed is a time-out."""
    if limit.expired:
        return refusal("timeout", seconds=limit.elapsed())
    kind, detail = network_kind(error)
    return refusal(kind, detail=detail, seconds=limit.elapsed() if kind == "timeout" else None)


def network_kind(error: BaseException) -> tuple[str, str]:
    """Return the kind of a network failure and a short detail of it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "tls_certificate", error.verify_message or str(error.reason or "verification failed")
    if isinstance(error, ssl.SSLError):
        return "tls_failed", str(error.reason or error.__class__.__name__)
    if isinstance(error, socket.gaierror):
        return "unknown_host", error.strerror or str(error)
    if isinstance(error, TimeoutError):
        return "timeout", ""
    if isinstance(error, ConnectionRefusedError):
        return "connection_refused", ""
    if isinstance(error, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, EOFError)):
        return "connection_closed", ""
    strerror = error.strerror if isinstance(error, OSError) else None
    return "network", strerror or error.__class__.__name__
