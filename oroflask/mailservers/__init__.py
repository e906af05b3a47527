"""Talk to mail servers over IMAP and SMTP with XOAUTH2, and explain every refusal.

Knows nothing of Flask, the database or the rest of oroflask: it takes an address, an access
token and where the server is, and returns plain values or raises MailServerError.
"""

from .endpoints import MICROSOFT_IMAP, MICROSOFT_SMTP, Endpoint, xoauth2
from .errors import MailServerError
from .folders import Folder
from .imap import ImapCheck, check_imap
from .session import FetchedMessage, FolderState, ImapSession, RemapKey
from .smtp import SmtpCheck, SmtpSent, check_smtp, send_message

__all__ = [
    "MICROSOFT_IMAP",
    "MICROSOFT_SMTP",
    "Endpoint",
    "FetchedMessage",
    "Folder",
    "FolderState",
    "ImapCheck",
    "ImapSession",
    "MailServerError",
    "RemapKey",
    "SmtpCheck",
    "SmtpSent",
    "check_imap",
    "check_smtp",
    "send_message",
    "xoauth2",
]
