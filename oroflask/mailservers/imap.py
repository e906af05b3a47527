"""Check an IMAP mailbox: sign in with XOAUTH2, read the capabilities, list the folders."""

import imaplib
import logging
import ssl
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import SocketTimeout

from .endpoints import (
    CONNECT_TIMEOUT,
    DEADLINE,
    READ_TIMEOUT,
    Deadline,
    Endpoint,
    set_nodelay,
    tls_context,
    xoauth2,
)
from .errors import IMAP, MailServerError, explain, imap_kind, network_refusal, redact, secrets_of
from .folders import Folder, folder_from_list

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImapCheck:
    """What a successful IMAP check found: the server's capabilities after sign-in and the folders."""

    address: str
    endpoint: Endpoint
    capabilities: tuple[str, ...]
    folders: tuple[Folder, ...]


def check_imap(
    endpoint: Endpoint,
    address: str,
    access_token: str,
    *,
    ca_file: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    deadline: float = DEADLINE,
) -> ImapCheck:
    """Sign in to `address` with the token, list its folders, sign out; raise MailServerError if refused."""
    secrets = secrets_of(access_token, xoauth2(address, access_token))
    context = tls_context(ca_file)
    limit = Deadline(deadline)
    client = None
    failure = None

    def refusal(kind: str, **details) -> MailServerError:
        return explain(IMAP, kind, endpoint, address, secrets=secrets, **details)

    try:
        with limit:
            client = IMAPClient(
                endpoint.host,
                endpoint.port,
                ssl=endpoint.security == "tls",
                ssl_context=context,
                timeout=SocketTimeout(connect=min(connect_timeout, limit.remaining()), read=read_timeout),
            )
            limit.watch(lambda: getattr(client._imap, "sock", None))
            # IMAPClient turns imaplib's debug on, which formats every literal it reads.
            client._imap.debug = 0
            set_nodelay(client._imap.sock)
            if endpoint.security == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise refusal("imap_starttls_unavailable")
                client.starttls(context)
            if b"AUTH=XOAUTH2" not in client.capabilities():
                raise refusal("imap_no_xoauth2", server_said=_capability_line(client))
            client.oauth2_login(address, access_token)
            capabilities = tuple(name.decode("ascii", "replace") for name in client.capabilities())
            folders = tuple(folder_from_list(*line) for line in client.list_folders())
            try:
                client.logout()
            except (IMAPClientError, OSError):
                pass  # the check is done; a server that hangs up instead of saying BYE is no failure
    # Each failure is raised outside its except clause: no exception that might quote a token rides
    # along as the new one's context.
    except MailServerError as error:
        failure = error
    except (IMAPClientError, imaplib.IMAP4.error) as error:
        failure = _imap_refusal(error, limit, refusal)
    except (OSError, EOFError, ValueError) as error:
        # A socket shut down under a TLS object at the deadline can read as a ValueError.
        if isinstance(error, ValueError) and not isinstance(error, ssl.SSLError) and not limit.expired:
            raise
        failure = network_refusal(error, limit, refusal)
    finally:
        limit.cancel()
        _close(client)
    if failure is not None:
        raise failure
    logger.info("IMAP check of %s at %s: %d folders", address, endpoint, len(folders))
    return ImapCheck(address, endpoint, capabilities, folders)


def _imap_refusal(error: Exception, limit: Deadline, refusal) -> MailServerError:
    if limit.expired:
        return refusal("timeout", seconds=limit.elapsed())
    server_said = _server_words(str(error))
    kind, retry_after = imap_kind(server_said)
    if kind == "imap_refused" and isinstance(error, imaplib.IMAP4.abort):
        kind = "connection_closed"
    return refusal(kind, server_said=server_said, retry_after=retry_after)


def _server_words(message: str) -> str:
    """Return the server's text from an imaplib error such as "LIST command error: BAD [b'...']"."""
    start, end = message.find("[b'"), message.rfind("']")
    if start != -1 and end > start:
        return message[start + 3 : end]
    start, end = message.find('[b"'), message.rfind('"]')
    if start != -1 and end > start:
        return message[start + 3 : end]
    return message


def _capability_line(client: IMAPClient) -> str:
    return redact(" ".join(capability.decode("ascii", "replace") for capability in client.capabilities()))


def _close(client: IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.shutdown()
    except (OSError, IMAPClientError, AttributeError):
        pass
