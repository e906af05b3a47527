"""SMTP submission with XOAUTH2: check a sign-in (EHLO, STARTTLS, EHLO, AUTH, QUIT; nothing is
sent), or send a message."""

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .endpoints import CONNECT_TIMEOUT, DEADLINE, READ_TIMEOUT, Deadline, Endpoint, tls_context, xoauth2
from .errors import SMTP, MailServerError, explain, network_refusal, secrets_of, smtp_refusal

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Sending a message of tens of megabytes over a slow uplink takes longer than a check.
SEND_DEADLINE = 300.0


@dataclass(frozen=True)
class SmtpCheck:
    """What a successful SMTP check found: the server's EHLO extensions after TLS, and its size limit."""

    address: str
    endpoint: Endpoint
    extensions: dict[str, str]
    auth_mechanisms: tuple[str, ...]
    size_limit: int | None


@dataclass(frozen=True)
class SmtpSent:
    """A message the server accepted: from whom, to whom, its size and the server's answer to DATA."""

    address: str
    recipients: tuple[str, ...]
    size: int
    server_said: str


class _XOAuth2:
    """smtplib's authobject: the XOAUTH2 response after the server's first challenge, then empty.

    Sent after the 334 challenge rather than on the AUTH line: Dovecot refuses a long initial
    response ("500 5.5.2 Line too long"), and RFC 4954 servers must accept this form. A second
    challenge carries the server's error; the empty answer lets it finish with its 535.
    """

    def __init__(self, initial_response: str):
        self._initial_response = initial_response
        self._answered = False

    def __call__(self, challenge: bytes | None = None) -> str:
        if self._answered:
            return ""
        self._answered = True
        return self._initial_response

    def __repr__(self) -> str:
        return "_XOAuth2([hidden])"


def check_smtp(
    endpoint: Endpoint,
    address: str,
    access_token: str,
    *,
    ca_file: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    deadline: float = DEADLINE,
) -> SmtpCheck:
    """Sign in to SMTP submission as `address` with the token and quit; raise MailServerError if refused."""

    def signed_in(server: smtplib.SMTP, refusal) -> SmtpCheck:
        extensions = dict(server.esmtp_features)
        mechanisms = tuple(extensions.get("auth", "").upper().split())
        _quit(server)
        return SmtpCheck(address, endpoint, extensions, mechanisms, _size_limit(extensions))

    check = _signed_in(
        endpoint, address, access_token, signed_in,
        ca_file=ca_file, connect_timeout=connect_timeout, read_timeout=read_timeout, deadline=deadline,
    )
    logger.info("SMTP check of %s at %s: signed in", address, endpoint)
    return check


def send_message(
    endpoint: Endpoint,
    address: str,
    access_token: str,
    message: bytes,
    recipients: Sequence[str],
    *,
    ca_file: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    deadline: float = SEND_DEADLINE,
) -> SmtpSent:
    """Sign in as `address` and send `message` from it to `recipients`; raise MailServerError if refused.

    All or nothing: every recipient is offered before DATA, and one refused (5xx or 4xx) ends the
    transaction before the message goes, naming that recipient. A message larger than the
    server's SIZE is refused before it is sent.
    """
    if not recipients:
        raise ValueError("a message needs at least one recipient")

    def signed_in(server: smtplib.SMTP, refusal) -> SmtpSent:
        limit = _size_limit(dict(server.esmtp_features))
        if limit is not None and len(message) > limit:
            raise refusal("smtp_message_too_large", size=len(message), limit=limit)
        options = [f"SIZE={len(message)}"] if server.has_extn("size") else []
        if server.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        code, reply = server.mail(address, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, address)
        for recipient in recipients:
            code, reply = server.rcpt(recipient)
            if code not in (250, 251):
                raise _RecipientRefused(code, reply, recipient)
        code, reply = server.data(message)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        _quit(server)
        return SmtpSent(address, tuple(recipients), len(message), _text(reply))

    sent = _signed_in(
        endpoint, address, access_token, signed_in, size=len(message),
        ca_file=ca_file, connect_timeout=connect_timeout, read_timeout=read_timeout, deadline=deadline,
    )
    logger.info("SMTP: sent %s bytes from %s to %s recipients", sent.size, address, len(sent.recipients))
    return sent


class _RecipientRefused(smtplib.SMTPResponseException):
    """One RCPT TO refused, with the address it was for."""

    def __init__(self, code: int, reply: bytes, recipient: str):
        super().__init__(code, reply)
        self.recipient = recipient


def _signed_in(
    endpoint: Endpoint,
    address: str,
    access_token: str,
    work: Callable[[smtplib.SMTP, Callable[..., MailServerError]], T],
    *,
    size: int | None = None,
    ca_file: str | None,
    connect_timeout: float,
    read_timeout: float,
    deadline: float,
) -> T:
    """Connect, secure and sign in as `address`, then return `work(server, refusal)`; every failure explained."""
    initial_response = xoauth2(address, access_token)
    secrets = secrets_of(access_token, initial_response)
    context = tls_context(ca_file)
    limit = Deadline(deadline)
    # smtplib would otherwise look up this machine's full name in DNS for EHLO.
    local_hostname = socket.gethostname() or "localhost"
    server = None
    failure = None

    def refusal(kind: str, **details) -> MailServerError:
        return explain(SMTP, kind, endpoint, address, secrets=secrets, **details)

    try:
        with limit:
            # Connected by the constructor, which remembers the host for STARTTLS's certificate check
            # and raises SMTPConnectError for a greeting other than 220.
            timeout = min(connect_timeout, limit.remaining())
            if endpoint.security == "tls":
                server = smtplib.SMTP_SSL(
                    endpoint.host, endpoint.port, local_hostname, timeout=timeout, context=context
                )
            else:
                server = smtplib.SMTP(endpoint.host, endpoint.port, local_hostname, timeout=timeout)
            limit.watch(lambda: server.sock)
            server.sock.settimeout(read_timeout)
            _ehlo(server)
            if endpoint.security == "starttls":
                if not server.has_extn("starttls"):
                    raise refusal("smtp_starttls_unavailable")
                server.starttls(context=context)
                server.sock.settimeout(read_timeout)
                _ehlo(server)
            mechanisms = tuple(server.esmtp_features.get("auth", "").upper().split())
            if "XOAUTH2" not in mechanisms:
                raise refusal("smtp_no_xoauth2", server_said=f"AUTH {' '.join(mechanisms)}".strip())
            server.auth("XOAUTH2", _XOAuth2(initial_response), initial_response_ok=False)
            result = work(server, refusal)
    # Each failure is raised outside its except clause: no exception that might quote a token rides
    # along as the new one's context.
    except MailServerError as error:
        failure = error
    except smtplib.SMTPResponseException as error:
        if limit.expired:
            failure = refusal("timeout", seconds=limit.elapsed())
        else:
            failure = smtp_refusal(
                endpoint, address, error.smtp_code, _text(error.smtp_error), secrets,
                recipient=getattr(error, "recipient", ""), size=size,
            )
    except smtplib.SMTPServerDisconnected as error:
        # smtplib reports a read time-out as a disconnection.
        timed_out = limit.expired or "timed out" in str(error)
        failure = refusal("timeout", seconds=limit.elapsed()) if timed_out else refusal("connection_closed")
    except smtplib.SMTPNotSupportedError:
        failure = refusal("smtp_starttls_unavailable")
    except (OSError, ValueError) as error:
        if isinstance(error, ValueError) and not isinstance(error, ssl.SSLError) and not limit.expired:
            raise
        failure = network_refusal(error, limit, refusal)
    finally:
        limit.cancel()
        if server is not None:
            server.close()
    if failure is not None:
        raise failure
    return result


def _quit(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        pass  # what was asked is done; a server that hangs up on QUIT is no failure


def _ehlo(server: smtplib.SMTP) -> None:
    code, answer = server.ehlo()
    if code != 250:
        raise smtplib.SMTPResponseException(code, answer)


def _size_limit(extensions: dict[str, str]) -> int | None:
    size = extensions.get("size", "").strip()
    return int(size) if size.isdigit() and int(size) > 0 else None


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())
