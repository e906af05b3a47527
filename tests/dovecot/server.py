"""Debian's Dovecot on free loopback ports, configured from the files beside this module.

IMAP with STARTTLS and with implicit TLS, submission with STARTTLS, and LMTP to deliver test
messages. Dovecot's submission relays over SMTP only, which its LMTP does not speak (it answers
EHLO with "500 5.5.1 Unknown command"): a small aiosmtpd relay passes what is submitted on to LMTP,
so that sent mail arrives in the recipients' mailboxes. Logins use XOAUTH2 and
are decided by the local identity provider through checkpassword.py. The certificates come from a
throw-away CA made here; clients trust it through `ca_file`.
"""

import datetime
import ipaddress
import json
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from string import Template

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = Path(__file__).parent
INSTALL = "apt-get install dovecot-imapd dovecot-submissiond dovecot-lmtpd"
DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
# The user Debian's package runs Dovecot's auth and mail processes as.
MAIL_USER = "dovecot"
# The auth process runs checkpassword.py: it needs an interpreter outside /root.
SYSTEM_PYTHON = "/usr/bin/python3"
START_TIMEOUT = 15
# Exchange Online advertises neither CONDSTORE, QRESYNC nor ESEARCH; "full" keeps Dovecot's own line.
CAPABILITIES = {
    "exchange": (
        "imap_capability = IMAP4rev1 SASL-IR ID ENABLE IDLE UIDPLUS MOVE UNSELECT CHILDREN NAMESPACE LITERAL+"
    ),
    "full": "# Dovecot's own capabilities: CONDSTORE, QRESYNC, ESEARCH and the rest.",
}
# How a token is checked. "program": checkpassword.py asks the identity provider whether the token
# may open the mailbox (its owner's, or a shared one it has Full Access to) and records Send As for
# the relay; each login starts a Python process, some 50 to 100 ms. "introspection": Dovecot's own
# oauth2 passdb asks the provider (RFC 7662) and lets a token open its owner's mailbox only, as
# quickly as a PLAIN login: for benchmarks, which compare the engine with a PLAIN client.
TOKEN_PASSDBS = {
    "program": """passdb {
  driver = checkpassword
  mechanisms = xoauth2 oauthbearer
  args = $base/checkpassword.py
}""",
    "introspection": """passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $base/dovecot-oauth2.conf.ext
}""",
}
OAUTH2_SETTINGS = """introspection_mode = post
introspection_url = $introspection_url
username_attribute = username
active_attribute = active
active_value = true
"""
# Any user logs in over PLAIN with the one password: for IMAP clients without XOAUTH2 (mbsync).
PLAIN_PASSDB = """passdb {
  driver = static
  mechanisms = plain
  args = password=$password
}"""


class DovecotUnavailable(Exception):
    """Dovecot cannot be started on this machine; the message says what to install or change."""


def missing() -> str | None:
    """Return why Dovecot cannot run here (with the install command), or None when it can."""
    modules = [Path("/usr/lib/dovecot", name) for name in ("imap", "submission", "lmtp")]
    if shutil.which(DOVECOT) is None or not all(module.exists() for module in modules):
        return f"Dovecot is not installed: {INSTALL}"
    if os.geteuid() != 0:
        return "Dovecot's test servers are started as root (they run mail as the dovecot user)"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} is missing: apt-get install python3"
    return None


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_certificates(folder: Path) -> Path:
    """Write a throw-away CA and a server certificate for localhost and 127.0.0.1; return the CA file."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oroflask test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file


# Exchange Online's answer, after DATA, to a message sent from an address the account may not send as.
SEND_AS_DENIED = (
    "554 5.2.252 SendAsDenied; {account} not allowed to send as {sender}; "
    "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process "
    "message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message."
    "[EndDiagnosticData]"
)


class IntoMailboxes:
    """An aiosmtpd handler that delivers every message it gets into Dovecot over LMTP.

    Refuses, as Exchange does, a message whose sender's last SMTP login (recorded by
    checkpassword.py in `logins`) was made with a token that may not send as it.
    """

    def __init__(self, lmtp_port: int, logins: Path):
        self.lmtp_port = lmtp_port
        self.logins = logins

    async def handle_DATA(self, server, session, envelope) -> str:
        """Pass the message on to LMTP, and answer as LMTP did."""
        sender = (envelope.mail_from or "").lower()
        record = self.logins / sender
        if sender and "/" not in sender and record.exists():
            login = json.loads(record.read_text(encoding="utf-8"))
            if not login["send_as"]:
                return SEND_AS_DENIED.format(account=login["account"], sender=sender)
        try:
            with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=10) as lmtp:
                lmtp.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        except smtplib.SMTPResponseException as error:
            return f"{error.smtp_code} {error.smtp_error.decode(errors='replace')}"
        except (OSError, smtplib.SMTPException):
            return "451 4.3.0 The mailboxes could not be reached"
        return "250 2.0.0 Delivered"


class Dovecot:
    """One Dovecot in a temporary folder of its own; `start()` it, `stop()` it."""

    def __init__(
        self,
        introspection_url: str,
        *,
        capabilities: str = "exchange",
        plain_password: str | None = None,
        token_check: str = "program",
    ):
        if capabilities not in CAPABILITIES:
            raise ValueError(f"capabilities is one of {', '.join(CAPABILITIES)}, not {capabilities!r}")
        if token_check not in TOKEN_PASSDBS:
            raise ValueError(f"token_check is one of {', '.join(TOKEN_PASSDBS)}, not {token_check!r}")
        self.token_check = token_check
        # The static passdb's arguments are split on blanks: a password cannot hold one.
        if plain_password is not None and (not plain_password or any(c.isspace() for c in plain_password)):
            raise ValueError("plain_password is a non-empty word without blanks")
        self.introspection_url = introspection_url
        self.capabilities = capabilities
        self.plain_password = plain_password
        self.folder = Path(tempfile.mkdtemp(prefix="oroflask-dovecot-"))
        self.ports = {
            name: free_port()
            for name in ("imap_port", "imaps_port", "submission_port", "lmtp_port", "relay_port")
        }
        self.ca_file = self.folder / "ca.pem"
        self.config = self.folder / "dovecot.conf"
        self.relay = Controller(
            IntoMailboxes(self.lmtp_port, self.folder / "smtp-logins"),
            hostname="127.0.0.1",
            port=self.ports["relay_port"],
        )

    @property
    def imap_port(self) -> int:
        """Return the IMAP port (STARTTLS)."""
        return self.ports["imap_port"]

    @property
    def imaps_port(self) -> int:
        """Return the IMAP port with implicit TLS."""
        return self.ports["imaps_port"]

    @property
    def submission_port(self) -> int:
        """Return the submission port (STARTTLS)."""
        return self.ports["submission_port"]

    @property
    def lmtp_port(self) -> int:
        """Return the LMTP port that delivers into mailboxes."""
        return self.ports["lmtp_port"]

    def start(self) -> "Dovecot":
        """Write the configuration, certificates and checkpassword program, start Dovecot, wait for it."""
        reason = missing()
        if reason:
            raise DovecotUnavailable(reason)
        self.folder.chmod(0o755)
        make_certificates(self.folder)
        (self.folder / "server.key").chmod(0o600)
        settings = {**self.ports, "base": str(self.folder)}
        settings.update(mail_user=MAIL_USER, mail_group=MAIL_USER)
        settings.update(imap_capability=CAPABILITIES[self.capabilities], plain_mechanism="", plain_passdb="")
        settings.update(token_passdb=Template(TOKEN_PASSDBS[self.token_check]).substitute(base=self.folder))
        if self.plain_password is not None:
            # The scheme prefix keeps a password that starts with "{" from being read as a scheme.
            password = "{PLAIN}" + self.plain_password
            passdb = Template(PLAIN_PASSDB).substitute(password=password)
            settings.update(plain_mechanism=" plain", plain_passdb=passdb)
        template = Template((HERE / "dovecot.conf").read_text(encoding="utf-8"))
        self.config.write_text(template.substitute(settings), encoding="utf-8")
        program = self.folder / "checkpassword.py"
        program.write_text(
            f"#!{SYSTEM_PYTHON}\n" + (HERE / "checkpassword.py").read_text(encoding="utf-8"), encoding="utf-8"
        )
        program.chmod(0o755)
        (self.folder / "checkpassword.json").write_text(
            json.dumps({"introspection_url": self.introspection_url}), encoding="utf-8"
        )
        (self.folder / "dovecot-oauth2.conf.ext").write_text(
            Template(OAUTH2_SETTINGS).substitute(introspection_url=self.introspection_url), encoding="utf-8"
        )
        for name in ("mail", "smtp-logins"):
            (self.folder / name).mkdir()
            shutil.chown(self.folder / name, MAIL_USER, MAIL_USER)
        # Dovecot's daemons keep the standard streams it was given: a pipe would never close.
        with open(self.folder / "startup.log", "w+", encoding="utf-8") as output:
            result = subprocess.run(
                [DOVECOT, "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=START_TIMEOUT,
            )
            if result.returncode != 0:
                output.seek(0)
                raise DovecotUnavailable(f"dovecot did not start: {output.read().strip()}\n{self.log()}")
        self._wait_for_ports()
        self.relay.start()
        return self

    def stop(self) -> None:
        """Stop Dovecot and the relay, and remove the folder."""
        if self.relay.loop.is_running():
            self.relay.stop()
        subprocess.run(
            [DOVECOT, "-c", str(self.config), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=START_TIMEOUT,
        )
        pid_file = self.folder / "run" / "master.pid"
        deadline = time.monotonic() + START_TIMEOUT
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        """Return Dovecot's log so far."""
        log_file = self.folder / "dovecot.log"
        return log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""

    def doveadm(self, *arguments: str) -> str:
        """Run doveadm on this Dovecot's configuration and return what it printed; raise if it failed."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config), *arguments],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(arguments)} failed: {result.stderr.strip()}")
        return result.stdout

    def empty(self, address: str) -> None:
        """Remove every message of a mailbox, and every folder Dovecot does not make by itself."""
        self.doveadm("expunge", "-u", address, "mailbox", "*", "all")
        made = {"INBOX", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive"}
        names = self.doveadm("mailbox", "list", "-u", address).splitlines()
        # Children first; a parent made only by its child's name ("Projects" of "Projects/Sub")
        # goes with the child.
        for name in sorted((name for name in names if name and name not in made), key=len, reverse=True):
            try:
                self.doveadm("mailbox", "delete", "-u", address, name)
            except RuntimeError as error:
                if "doesn't exist" not in str(error):
                    raise

    def deliver(self, recipient: str, subject: str = "Test message", body: str = "Hello.") -> None:
        """Deliver a small message into the recipient's Inbox over LMTP."""
        message = EmailMessage()
        message["From"] = "sender@example.com"
        message["To"] = recipient
        message["Subject"] = subject
        message.set_content(body)
        self.deliver_message(message)

    def deliver_message(self, message: EmailMessage) -> None:
        """Deliver a message into its recipients' Inboxes over LMTP."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=10) as lmtp:
            lmtp.send_message(message)

    def _wait_for_ports(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.imap_port, self.imaps_port, self.submission_port, self.lmtp_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        message = f"dovecot is not listening on {port}:\n{self.log()}"
                        raise DovecotUnavailable(message) from None
                    time.sleep(0.05)
