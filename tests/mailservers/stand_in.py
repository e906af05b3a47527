"""Loopback stand-ins for Exchange Online's IMAP and SMTP, answering with its exact lines.

For the refusals Dovecot cannot word as Exchange does (throttling, "authenticated but not
connected", 535 5.7.139, 535 5.7.3) and for servers that never answer or hang up. Plain TCP:
the checks reach them with security "none", allowed on loopback. Written on bare sockets so that
each answer is exactly the line Exchange sends.
"""

import base64
import socketserver

from ..loopback import LoopbackServer

IMAP_GREETING = "* OK The Microsoft Exchange IMAP4 service is ready. [TQBXADQAUABSADAAMQBDAEEAMAAwADEAMgAuAA==]"
IMAP_CAPABILITY = (
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"
)
IMAP_CAPABILITY_AFTER = (
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES "
    "CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+"
)
EXCHANGE_FOLDERS = (
    '* LIST (\\Marked \\HasNoChildren) "/" INBOX',
    '* LIST (\\HasChildren) "/" Archive',
    '* LIST (\\HasNoChildren) "/" "Archive/2025"',
    '* LIST (\\HasNoChildren) "/" "Deleted Items"',
    '* LIST (\\HasNoChildren) "/" Drafts',
    '* LIST (\\HasNoChildren) "/" "Junk Email"',
    '* LIST (\\HasNoChildren) "/" "Sent Items"',
    '* LIST (\\Noselect \\HasChildren) "/" Projects',
    '* LIST (\\HasNoChildren) "/" "Projects/Sent"',
)
SMTP_GREETING = "220 MW4PR03CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready"
SMTP_EHLO = (
    "250-MW4PR03CA0001.outlook.office365.com Hello [127.0.0.1]",
    "250-SIZE 157286400",
    "250-PIPELINING",
    "250-DSN",
    "250-ENHANCEDSTATUSCODES",
    "250-AUTH LOGIN XOAUTH2",
    "250-8BITMIME",
    "250-BINARYMIME",
    "250-CHUNKING",
    "250 SMTPUTF8",
)


class StandIn(LoopbackServer):
    """A scripted server on a free loopback port; `start()` it, `stop()` it.

    `answers` maps a command (AUTHENTICATE, LIST, AUTH, ...) to the lines to answer it with; "{tag}"
    stands for the IMAP tag, "{received}" for the decoded XOAUTH2 response the client sent. `silent`
    accepts connections and never says a word; `hang_up` closes each at once.
    """

    def __init__(self, handler, answers: dict | None = None, silent: bool = False, hang_up: bool = False):
        super().__init__(handler, name="mail stand-in")
        self.answers = answers or {}
        self.silent = silent
        self.hang_up = hang_up
        self.messages: list[bytes] = []


class _Conversation(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        if self.server.hang_up:
            return
        if self.server.silent:
            self.server.stopping.wait()
            return
        try:
            self.converse()
        except OSError:
            pass  # the client gave up or hung up

    def say(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())
        self.wfile.flush()

    def listen(self) -> str | None:
        line = self.rfile.readline()
        return line.decode("utf-8", "replace").rstrip("\r\n") if line else None

    def converse(self) -> None:
        raise NotImplementedError


class ImapConversation(_Conversation):
    """Exchange's IMAP: CAPABILITY, AUTHENTICATE XOAUTH2 (with a continuation), LIST, LOGOUT."""

    def converse(self) -> None:
        self.say(IMAP_GREETING)
        received = ""
        while (line := self.listen()) is not None:
            tag, _, rest = line.partition(" ")
            command = rest.split(" ", 1)[0].upper()
            if command == "AUTHENTICATE":
                self.say("+ ")
                received = base64.b64decode(self.listen() or "").decode("utf-8", "replace")
            scripted = self.server.answers.get(command)
            if scripted is not None:
                self.say(*(answer.format(tag=tag, received=received) for answer in scripted))
                if scripted and scripted[-1].startswith("* BYE"):
                    return
            elif command == "CAPABILITY":
                capability = IMAP_CAPABILITY_AFTER if received else IMAP_CAPABILITY
                self.say(f"* CAPABILITY {capability}", f"{tag} OK CAPABILITY completed.")
            elif command == "AUTHENTICATE":
                self.say(f"{tag} OK AUTHENTICATE completed.")
            elif command == "LIST":
                self.say(*EXCHANGE_FOLDERS, f"{tag} OK LIST completed.")
            elif command == "LOGOUT":
                self.say("* BYE Microsoft Exchange Server IMAP4 server signing off.")
                self.say(f"{tag} OK LOGOUT completed.")
                return
            else:
                self.say(f"{tag} BAD Command Error. 12")


class SmtpConversation(_Conversation):
    """Exchange's SMTP submission without TLS: EHLO, AUTH XOAUTH2 after a 334, MAIL, RCPT, DATA, QUIT.

    A whole command line ("RCPT TO:<x@y>") may be scripted as well as a command; "DATA END" is the
    answer to a message's final dot. What was sent is kept in the server's `messages`.
    """

    def converse(self) -> None:
        self.say(*self.server.answers.get("GREETING", [SMTP_GREETING]))
        received = ""
        while (line := self.listen()) is not None:
            command = line.split(" ", 1)[0].upper()
            if command == "AUTH":
                self.say("334 ")
                received = base64.b64decode(self.listen() or "").decode("utf-8", "replace")
            whole = command + line[len(command):]
            scripted = self.server.answers.get(whole, self.server.answers.get(command))
            if scripted is not None:
                self.say(*(answer.format(received=received) for answer in scripted))
            elif command in ("EHLO", "HELO"):
                self.say(*SMTP_EHLO)
            elif command == "AUTH":
                self.say("235 2.7.0 Authentication successful")
            elif command == "MAIL":
                self.say("250 2.1.0 Sender OK")
            elif command == "RCPT":
                self.say("250 2.1.5 Recipient OK")
            elif command == "DATA":
                self.say("354 Start mail input; end with <CRLF>.<CRLF>")
                lines = []
                while (text := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(text)
                self.server.messages.append(b"".join(lines))
                self.say(*self.server.answers.get("DATA END", ["250 2.0.0 OK <x@outlook.com> [Hostname=MW4PR03]"]))
            elif command == "QUIT":
                self.say("221 2.0.0 Service closing transmission channel")
                return
            else:
                self.say("500 5.3.3 Unrecognized command")
