"""Check SMTP submission: EHLO, STARTTLS, EHLO, AUTH XOAUTH2, QUIT. Nothing is sent."""

import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass

from .endpoints import CONNECT_TIMEOUT, DEADLINE, READ_TIMEOUT, Deadline, Endpoint, tls_context, xoauth2
from .errors import SMTP, MailServerError, explain, network_refusal, secrets_of, smtp_refusal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpCheck:
    """What a successful SMTP check found: the server's EHLO extensions after TLS, and its size limit."""

    address: str
    endpoint: Endpoint
    extensions: dict[str, str]
    auth_mechanisms: tuple[str, ...]
    size_limit: int | None


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
            extensions = dict(server.esmtp_features)
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                pass  # signed in is what was checked; a server that hangs up on QUIT is no failure
    # Each failure is raised outside its except clause: no exception that might quote a token rides
    # along as the new one's context.
    except MailServerError as error:
        failure = error
    except smtplib.SMTPResponseException as error:
        if limit.expired:
            failure = refusal("timeout", seconds=limit.elapsed())
        else:
            failure = smtp_refusal(endpoint, address, error.smtp_code, _text(error.smtp_error), secrets)
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
    logger.info("SMTP check of %s at %s: signed in", address, endpoint)
    return SmtpCheck(address, endpoint, extensions, mechanisms, _size_limit(extensions))


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
