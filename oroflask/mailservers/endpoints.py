"""Where a mail server is, how to reach it securely, and how long to wait for it."""

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SECURITIES = ("tls", "starttls", "none")
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 20.0
DEADLINE = 30.0


@dataclass(frozen=True)
class Endpoint:
    """A mail server's host and port, and how the connection is secured.

    "tls": TLS from the first byte (IMAP 993); "starttls": plain, then STARTTLS (SMTP 587);
    "none": no TLS, accepted for a loopback host only.
    """

    host: str
    port: int
    security: str

    def __post_init__(self):
        if not isinstance(self.host, str) or not self.host.strip() or any(c.isspace() for c in self.host):
            raise ValueError("A mail server's host is a name or an address without spaces.")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValueError("A mail server's port is a whole number from 1 to 65535.")
        if self.security not in SECURITIES:
            raise ValueError(f"A mail server's security is one of {', '.join(SECURITIES)}.")
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError("A connection without TLS is allowed to this machine (loopback) only.")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


# Microsoft 365 (Exchange Online), as Microsoft documents for OAuth clients:
# https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
MICROSOFT_IMAP = Endpoint("outlook.office365.com", 993, "tls")
MICROSOFT_SMTP = Endpoint("smtp.office365.com", 587, "starttls")


def is_loopback(host: str) -> bool:
    """Tell whether a host name or address is this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def xoauth2(address: str, access_token: str) -> str:
    """Return the SASL XOAUTH2 initial response that opens `address` with the token."""
    return f"user={address}\x01auth=Bearer {access_token}\x01\x01"


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Return a client TLS context that checks certificates and host names, trusting `ca_file` if given."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class Deadline:
    """The total time a check may take: when it passes, the watched socket is shut down.

    Read time-outs alone let a server that dribbles a byte at a time hold a check for ever. It is
    armed once the connection is open: connecting and the greeting wait at most the connect
    time-out for each read.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._timer: threading.Timer | None = None
        self.expired = False

    def elapsed(self) -> float:
        """Return the seconds since the deadline was set, rounded to a tenth."""
        return round(self.seconds - (self._ends - time.monotonic()), 1)

    def remaining(self) -> float:
        """Return the seconds left, at least a millisecond, so that socket time-outs stay positive."""
        return max(0.001, self._ends - time.monotonic())

    def watch(self, current_socket: Callable[[], socket.socket | None]) -> None:
        """Shut down whatever socket `current_socket` returns when the deadline passes."""
        self.cancel()
        self._timer = threading.Timer(self._ends - time.monotonic(), self._expire, args=(current_socket,))
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        """Stop watching."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, current_socket: Callable[[], socket.socket | None]) -> None:
        self.expired = True
        sock = current_socket()
        if sock is not None:
            try:
                # The plain socket's shutdown, also on a TLS socket: it wakes a blocked read at once
                # and leaves the TLS object to the reading thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "Deadline":
        return self

    def __exit__(self, *exc_info) -> None:
        self.cancel()


def set_nodelay(sock: socket.socket) -> None:
    """Send small writes at once: XOAUTH2 login takes ~50 ms instead of ~4 ms with Nagle's delay."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


# A connection kept open while silent is probed after a minute, and found dead within another
# (four unanswered probes 15 s apart); the probes also keep a router's mapping of it alive.
KEEPALIVE_IDLE_SECONDS = 60
KEEPALIVE_INTERVAL_SECONDS = 15
KEEPALIVE_PROBES = 4


def set_keepalive(sock: socket.socket) -> None:
    """Let the system probe a silent connection, where it can (Linux names all three settings)."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_SECONDS),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_SECONDS),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    try:
        for level, option, value in options:
            sock.setsockopt(level, option, value)
    except OSError:
        pass
