"""An IMAP session for syncing a mailbox: sign in with XOAUTH2, read folders, flags and UIDs, and
stream message bodies with several UID FETCH commands in flight.

The control commands (LOGIN, LIST, SELECT, SEARCH, flag scans) go through the standard library's
imaplib. Bodies go through a small streaming reader on the same socket: it keeps `pipeline`
UID FETCH commands of at most `batch_messages` messages or `batch_bytes` bytes in flight, and
hands out each message as soon as its literal has arrived, so memory stays flat whatever the
folder's size and a slow link costs one round trip per pass, not one per batch. Both read through
`_Reader`, which keeps its buffer when a read times out (IDLE waits on that).

CONDSTORE is used only when the server advertises it: Dovecot accepts ENABLE CONDSTORE even when
it hides it, Exchange Online advertises neither CONDSTORE, QRESYNC nor ESEARCH.
"""

import functools
import imaplib
import logging
import re
import socket
import ssl
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from imapclient import imap_utf7
from imapclient.datetime_util import parse_to_datetime
from imapclient.response_parser import parse_fetch_response, parse_response

from .endpoints import CONNECT_TIMEOUT, READ_TIMEOUT, Endpoint, set_keepalive, set_nodelay, tls_context, xoauth2
from .errors import IMAP, MailServerError, explain, imap_kind, network_kind, secrets_of
from .folders import Folder, folder_from_list
from .imap import _server_words

logger = logging.getLogger(__name__)

BATCH_MESSAGES = 200
BATCH_BYTES = 16 * 1024 * 1024
PIPELINE = 3
# Dovecot refuses command lines over 64 KB: UID sets are cut well below.
MAX_SET_LENGTH = 16_000
RECEIVE_SIZE = 64 * 1024
BODY_ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n\Z")
FETCH_LINE = re.compile(rb"\* \d+ FETCH \(")
UID_ITEM = re.compile(rb"[( ]UID (\d+)")
FLAGS_ITEM = re.compile(rb"FLAGS \(([^)]*)\)")
INTERNALDATE_ITEM = re.compile(rb'INTERNALDATE "([^"]*)"')
SIZE_ITEM = re.compile(rb"RFC822\.SIZE (\d+)")
# The body is the placeholder of a literal, NIL, or (rarely) a quoted string.
BODY_ITEM = re.compile(rb'BODY\[\] (?:(\x00)|NIL|"((?:[^"\\]|\\.)*)")')
TAGGED = re.compile(rb"(\S+) (OK|NO|BAD)\b ?(.*)", re.DOTALL)
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
ESEARCH_ALL = re.compile(rb"\bALL ([0-9:,]+)")
IDLE_EVENTS = {b"EXISTS", b"EXPUNGE", b"FETCH", b"RECENT"}
# A flag scan's lines as Dovecot and Exchange word them, and any other FETCH line (MODSEQ, another
# order) for the slower reading by item.
FLAG_SCAN_LINE = re.compile(
    rb"^\* \d+ FETCH \((?:UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)|([^\r\n]*))\)\r?$",
    re.MULTILINE,
)
BYE_LINE = re.compile(rb"^\* BYE[^\r\n]*", re.MULTILINE)


@dataclass(frozen=True)
class FolderState:
    """A selected folder as the server reports it; `highestmodseq` is None without CONDSTORE."""

    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int
    highestmodseq: int | None


@dataclass(frozen=True)
class FetchedMessage:
    """One message as downloaded: its UID, flags, arrival time (UTC), size and raw bytes."""

    uid: int
    flags: frozenset[str]
    internaldate: datetime
    size: int
    raw: bytes


@dataclass(frozen=True)
class RemapKey:
    """What identifies a message across a UIDVALIDITY change: Message-ID, arrival time and size."""

    message_id: str | None
    internaldate: datetime | None
    size: int | None


class ImapSession:
    """One signed-in IMAP connection to a mailbox, for syncing it; a context manager.

    `commands` counts what was sent, by command ("UID FETCH BODY", "ENABLE CONDSTORE", ...), so
    that a caller can tell which path a sync took.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        address: str,
        access_token: str,
        *,
        ca_file: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ):
        self.endpoint = endpoint
        self.address = address
        self.read_timeout = read_timeout
        self.capabilities: frozenset[str] = frozenset()
        self.commands: Counter[str] = Counter()
        self._secrets = secrets_of(access_token, xoauth2(address, access_token))
        self._imap: imaplib.IMAP4 | None = None
        self._tags = 0
        self._run(lambda: self._open(access_token, ca_file, connect_timeout), opening=True)

    @property
    def condstore(self) -> bool:
        """Tell whether the server advertises CONDSTORE (so flag changes come by CHANGEDSINCE)."""
        return "CONDSTORE" in self.capabilities

    @property
    def qresync(self) -> bool:
        """Tell whether the server advertises QRESYNC."""
        return "QRESYNC" in self.capabilities

    @property
    def esearch(self) -> bool:
        """Tell whether the server advertises ESEARCH (UID sets come back as ranges)."""
        return "ESEARCH" in self.capabilities

    @property
    def open(self) -> bool:
        """Tell whether the session can still be used: not closed, and no command of it failed."""
        return self._imap is not None

    def __enter__(self) -> "ImapSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def list_folders(self) -> tuple[Folder, ...]:
        """Return every folder of the mailbox as LIST gives it."""

        def listing():
            self.commands["LIST"] += 1
            typ, data = self._imap.list('""', '"*"')
            self._check(typ, data)
            lines = [line for line in data if line not in (b"", None)]
            parsed = parse_response(lines)
            folders = []
            for index in range(0, len(parsed), 3):
                flags, delimiter, name = parsed[index : index + 3]
                name = str(name) if isinstance(name, int) else imap_utf7.decode(name)
                folders.append(folder_from_list(flags, delimiter, name))
            return tuple(folders)

        return self._run(listing)

    def select(self, name: str, *, readonly: bool = True) -> FolderState:
        """Open a folder (EXAMINE when read-only) and return its UIDVALIDITY, UIDNEXT, size and modseq."""

        def selecting():
            command = "EXAMINE" if readonly else "SELECT"
            self.commands[command] += 1
            typ, data = self._imap.select(quote(name), readonly=readonly)
            self._check(typ, data)
            uidvalidity = self._untagged_number("UIDVALIDITY")
            if uidvalidity is None:
                raise self._refusal("imap_refused", server_said=f"{command} {name}: no UIDVALIDITY")
            modseq = self._untagged_number("HIGHESTMODSEQ") if self.condstore else None
            return FolderState(
                name=name,
                uidvalidity=uidvalidity,
                uidnext=self._untagged_number("UIDNEXT"),
                exists=int(data[0]) if data and data[0] else 0,
                highestmodseq=modseq,
            )

        return self._run(selecting)

    def search(self, criteria: str = "ALL") -> list[int]:
        """Return the UIDs matching IMAP search criteria in the selected folder, ascending."""

        def searching():
            if self.esearch:
                self.commands["UID SEARCH RETURN"] += 1
                typ, data = self._imap._simple_command("UID", "SEARCH", "RETURN", "(ALL)", criteria)
                self._check(typ, data)
                found = []
                for line in self._imap._untagged_response(typ, data, "ESEARCH")[1]:
                    match = ESEARCH_ALL.search(line or b"")
                    if match:
                        found.extend(expand_uid_set(match[1].decode()))
                return sorted(set(found))
            self.commands["UID SEARCH"] += 1
            typ, data = self._imap.uid("SEARCH", criteria)
            self._check(typ, data)
            return sorted({int(uid) for line in data if line for uid in line.split()})

        return self._run(searching)

    def search_since(self, day: date) -> list[int]:
        """Return the UIDs of the messages that arrived on or after `day`."""
        return self.search(f"SINCE {day.day}-{MONTHS[day.month - 1]}-{day.year}")

    def flags(self, *, changed_since: int | None = None) -> dict[int, frozenset[str]]:
        """Return every message's flags by UID, or only those changed since a modseq (CONDSTORE)."""

        def scanning():
            command = "UID FETCH 1:* (UID FLAGS)"
            if changed_since is not None:
                if not self.condstore:
                    raise ValueError("CHANGEDSINCE needs a server that advertises CONDSTORE")
                command += f" (CHANGEDSINCE {changed_since})"
                self.commands["UID FETCH FLAGS CHANGEDSINCE"] += 1
            else:
                self.commands["UID FETCH FLAGS"] += 1
            # A line per message: read whole and parsed in one pass, not line by line through imaplib.
            tag = self._tag()
            self._imap.send(f"{tag} {command}\r\n".encode())
            answer, tagged = self._imap.file.read_answer(tag.encode())
            if tagged is None:
                bye = BYE_LINE.search(answer)
                if bye is not None:
                    raise self._bye(bye[0])
                raise EOFError("the server closed the connection")
            self._tagged_ok(tagged, "UID FETCH")
            return parse_flag_scan(answer)

        return self._run(scanning)

    def store_flags(self, uids: Sequence[int], *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """Add and remove flags on these UIDs of the folder selected read-write (UID STORE, silently)."""

        def storing():
            for changes, sign in ((add, "+"), (remove, "-")):
                if not changes:
                    continue
                for uid_set in uid_sets(uids):
                    self.commands["UID STORE"] += 1
                    typ, data = self._imap.uid("STORE", uid_set, f"{sign}FLAGS.SILENT", f"({' '.join(changes)})")
                    self._check(typ, data)

        if uids:
            self._run(storing)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Return the RFC822.SIZE of each of these UIDs that still exists."""

        def sizing(uid_set: str) -> dict[int, int]:
            self.commands["UID FETCH SIZE"] += 1
            typ, data = self._imap.uid("FETCH", uid_set, "(UID RFC822.SIZE)")
            self._check(typ, data)
            found = {}
            # One short line per message, read with two patterns: the general parser is 5x slower.
            for line in data:
                if isinstance(line, bytes) and (uid := UID_ITEM.search(line)) and (size := SIZE_ITEM.search(line)):
                    found[int(uid[1])] = int(size[1])
            return found

        sizes = {}
        for uid_set in uid_sets(uids):
            sizes.update(self._run(functools.partial(sizing, uid_set)))
        return sizes

    def remap_keys(self, uids: Sequence[int] | None = None) -> dict[int, RemapKey]:
        """Return the Message-ID, INTERNALDATE and size of these UIDs (all when None), for re-mapping."""
        keys = {}
        items = "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
        for uid_set in ["1:*"] if uids is None else uid_sets(uids):
            for uid, fetched in self._fetch_items(uid_set, items, "UID FETCH REMAP").items():
                header = next((value for key, value in fetched.items() if key.startswith(b"BODY[HEADER")), b"")
                internaldate = fetched.get(b"INTERNALDATE")
                keys[uid] = RemapKey(
                    message_id=message_id_of(header or b""),
                    internaldate=internaldate.astimezone(timezone.utc) if internaldate else None,
                    size=fetched.get(b"RFC822.SIZE"),
                )
        return keys

    def fetch(
        self,
        uids: Sequence[int],
        sizes: dict[int, int],
        *,
        batch_messages: int = BATCH_MESSAGES,
        batch_bytes: int = BATCH_BYTES,
        pipeline: int = PIPELINE,
    ) -> Iterator[FetchedMessage]:
        """Download these messages whole, yielding each as it arrives, with `pipeline` commands in flight.

        Messages expunged meanwhile are skipped. Leaving the loop early closes the connection:
        the answers still on their way cannot be read any more.
        """
        chunks = iter(plan_chunks(uids, sizes, batch_messages, batch_bytes))
        pending: deque[str] = deque()
        finished = False

        def send_next() -> None:
            chunk = next(chunks, None)
            if chunk is not None:
                tag = self._tag()
                self.commands["UID FETCH BODY"] += 1
                self._imap.send(f"{tag} UID FETCH {compress(chunk)} {BODY_ITEMS}\r\n".encode())
                pending.append(tag)

        try:
            self._run(lambda: [send_next() for _ in range(max(1, pipeline))])
            while pending:
                message, finished_tag = self._run(lambda: self._read_fetch(pending))
                if finished_tag is not None:
                    pending.remove(finished_tag)
                    self._run(send_next)
                elif message is not None:
                    yield message
            finished = True
        finally:
            if not finished:
                self.close()

    def idle(self, timeout: float) -> list[tuple[int, str]]:
        """Wait in IDLE until the selected folder changes or `timeout` seconds pass; return the changes.

        Each change is (number, "EXISTS" | "EXPUNGE" | "FETCH" | "RECENT"); empty after a quiet
        `timeout`. Exchange ends IDLE after 29 minutes: callers renew it sooner.
        """

        def idling():
            tag = self._tag()
            self.commands["IDLE"] += 1
            self._imap.send(f"{tag} IDLE\r\n".encode())
            reader = self._imap.file
            events = []
            while True:
                line = reader.readline()
                if line.startswith(b"+"):
                    break
                if TAGGED.match(line) and line.startswith(tag.encode()):
                    self._tagged_ok(line, "IDLE")
                    return events
                self._collect_event(line, events)
            ends = time.monotonic() + timeout
            try:
                while not events:
                    remaining = ends - time.monotonic()
                    if remaining <= 0:
                        break
                    self._imap.sock.settimeout(remaining)
                    try:
                        line = reader.readline()
                    except TimeoutError:
                        break
                    self._collect_event(line, events)
            finally:
                self._imap.sock.settimeout(self.read_timeout)
            self._imap.send(b"DONE\r\n")
            while not (line := reader.readline()).startswith(tag.encode() + b" "):
                self._collect_event(line, events)
            self._tagged_ok(line, "IDLE")
            return events

        return self._run(idling)

    def append(self, folder: str, flags: Sequence[str], date: datetime | None, message: bytes) -> None:
        """Store `message` in `folder` with the given flags and internal date (APPEND)."""

        def appending():
            self.commands["APPEND"] += 1
            flag_list = f"({' '.join(flags)})" if flags else None
            when = imaplib.Time2Internaldate(date) if date is not None else None
            self._check(*self._imap.append(quote(name), flag_list, when, message))

        name = folder
        self._run(appending)

    def noop(self) -> None:
        """Ask the server for nothing, to keep the connection and learn of changes."""
        self.commands["NOOP"] += 1
        self._run(lambda: self._check(*self._imap.noop()))

    def interrupt(self) -> None:
        """Wake, from another thread, a call waiting on the server (IDLE): it raises connection_closed."""
        imap = self._imap
        if imap is not None:
            try:
                imap.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass  # closed already

    def close(self) -> None:
        """Sign out and close the connection; a server that just hangs up is no failure."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.sock.settimeout(min(self.read_timeout, 5))
            imap.logout()
        except (imaplib.IMAP4.error, OSError, EOFError, ValueError):
            try:
                imap.shutdown()
            except (OSError, ValueError):
                pass

    def _open(self, access_token: str, ca_file: str | None, connect_timeout: float) -> None:
        context = tls_context(ca_file)
        host, port = self.endpoint.host, self.endpoint.port
        if self.endpoint.security == "tls":
            imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=connect_timeout)
        else:
            imap = imaplib.IMAP4(host, port, timeout=connect_timeout)
        self._imap = imap
        set_nodelay(imap.sock)
        # Push keeps a session open between its syncs, and the watcher's IDLE is silent for minutes.
        set_keepalive(imap.sock)
        if self.endpoint.security == "starttls":
            if "STARTTLS" not in imap.capabilities:
                raise self._refusal("imap_starttls_unavailable")
            imap.starttls(ssl_context=context)
        imap.sock.settimeout(self.read_timeout)
        imap.file.close()
        imap.file = _Reader(imap.sock)
        if "AUTH=XOAUTH2" not in imap.capabilities:
            raise self._refusal("imap_no_xoauth2", server_said=" ".join(imap.capabilities))
        response = xoauth2(self.address, access_token).encode()
        answers = iter([response])
        # A refused XOAUTH2 answers with a challenge carrying the error; the empty reply ends it.
        self.commands["AUTHENTICATE"] += 1
        imap.authenticate("XOAUTH2", lambda challenge: next(answers, b""))
        self.commands["CAPABILITY"] += 1
        typ, data = imap.capability()
        self._check(typ, data)
        self.capabilities = frozenset(data[0].decode("ascii", "replace").upper().split())
        # imaplib checks its own copy before ENABLE and STARTTLS-like commands.
        imap.capabilities = tuple(sorted(self.capabilities))
        if self.condstore:
            self.commands["ENABLE CONDSTORE"] += 1
            self._check(*imap._simple_command("ENABLE", "CONDSTORE"))
        logger.debug("IMAP session for %s at %s: %s", self.address, self.endpoint, " ".join(imap.capabilities))

    def _fetch_items(self, uid_set: str, items: str, counted: str) -> dict[int, dict]:
        def fetching():
            self.commands[counted] += 1
            typ, data = self._imap.uid("FETCH", uid_set, items)
            self._check(typ, data)
            lines = [line for line in data if line is not None]
            parsed = parse_fetch_response(lines, normalise_times=False, uid_is_key=False)
            # Unsolicited FETCH answers (another client's change) carry no UID: skip them.
            return {fetched[b"UID"]: fetched for fetched in parsed.values() if b"UID" in fetched}

        return self._run(fetching)

    def _read_fetch(self, pending: deque[str]) -> tuple[FetchedMessage | None, str | None]:
        """Read one answer of a pipelined fetch: a message, a finished command's tag, or neither."""
        reader = self._imap.file
        line = reader.readline()
        if not line:
            raise EOFError("the server closed the connection")
        if line.startswith(b"* "):
            text, literals = self._read_rest(line)
            if FETCH_LINE.match(text):
                return message_from(text, literals), None
            if text.startswith(b"* BYE"):
                raise self._bye(text)
            return None, None
        tagged = TAGGED.match(line.rstrip(b"\r\n"))
        if tagged and tagged[1].decode() in pending:
            self._tagged_ok(line, "UID FETCH")
            return None, tagged[1].decode()
        # A continuation or a stray line: nothing of ours.
        self._read_rest(line)
        return None, None

    def _read_rest(self, line: bytes) -> tuple[bytes, list[bytes]]:
        """Return a whole response: its text with each literal replaced by a NUL, and the literals."""
        reader = self._imap.file
        parts, literals = [], []
        while (literal := LITERAL.search(line)) is not None:
            parts.append(line[: literal.start()] + b"\x00")
            literals.append(reader.read(int(literal[1])))
            line = reader.readline()
            if not line:
                raise EOFError("the server closed the connection inside a response")
        parts.append(line.rstrip(b"\r\n"))
        return b"".join(parts), literals

    def _collect_event(self, line: bytes, events: list[tuple[int, str]]) -> None:
        if not line:
            raise EOFError("the server closed the connection")
        text, _ = self._read_rest(line)
        words = text.split(b" ", 3)
        if len(words) >= 3 and words[0] == b"*" and words[1].isdigit() and words[2] in IDLE_EVENTS:
            events.append((int(words[1]), words[2].decode()))
        elif text.startswith(b"* BYE"):
            raise self._bye(text)

    def _bye(self, line: bytes) -> MailServerError:
        """Return the failure a server's BYE line tells of (throttling, a closed connection)."""
        said = line[6:].rstrip(b"\r\n").decode("utf-8", "replace")
        kind, retry_after = imap_kind(said)
        kind = "connection_closed" if kind == "imap_refused" else kind
        return self._refusal(kind, server_said=said, retry_after=retry_after)

    def _tagged_ok(self, line: bytes, command: str) -> None:
        tagged = TAGGED.match(line.rstrip(b"\r\n"))
        if tagged is None or tagged[2] != b"OK":
            said = line.rstrip(b"\r\n").partition(b" ")[2].decode("utf-8", "replace")
            kind, retry_after = imap_kind(said)
            raise self._refusal(kind, server_said=f"{command}: {said}", retry_after=retry_after)

    def _tag(self) -> str:
        # Tags of our own: imaplib never sees these answers, so they stay out of its bookkeeping.
        self._tags += 1
        return f"S{self._tags}"

    def _untagged_number(self, name: str) -> int | None:
        values = self._imap.untagged_responses.get(name) or []
        for value in reversed(values):
            if isinstance(value, bytes) and value.split()[:1] and value.split()[0].isdigit():
                return int(value.split()[0])
        return None

    def _check(self, typ: str, data: list) -> None:
        if typ != "OK":
            said = " ".join(
                item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
                for item in data
                if item is not None and not isinstance(item, tuple)
            )
            kind, retry_after = imap_kind(said)
            raise self._refusal(kind, server_said=f"{typ} {said}", retry_after=retry_after)

    def _refusal(self, kind: str, **details) -> MailServerError:
        return explain(IMAP, kind, self.endpoint, self.address, secrets=self._secrets, **details)

    def _run(self, action, *, opening: bool = False):
        """Run `action`, turning any failure into an explained MailServerError that closes the session."""
        if self._imap is None and not opening:
            raise self._refusal("connection_closed", server_said="the session was closed")
        failure = None
        try:
            return action()
        except MailServerError as error:
            failure = error
        except imaplib.IMAP4.abort as error:
            failure = self._refusal_of(error, closed=True)
        except imaplib.IMAP4.error as error:
            failure = self._refusal_of(error, closed=False)
        except (OSError, EOFError) as error:
            kind, detail = network_kind(error)
            seconds = self.read_timeout if kind == "timeout" else None
            failure = self._refusal(kind, detail=detail, seconds=seconds)
        except ValueError as error:
            if isinstance(error, ssl.SSLError):
                failure = self._refusal("tls_failed", detail=str(error.reason or error))
            else:
                raise
        # Raised outside the except clauses: no exception that might quote a token rides along.
        self._discard()
        raise failure

    def _refusal_of(self, error: imaplib.IMAP4.error, *, closed: bool) -> MailServerError:
        server_said = _server_words(str(error))
        kind, retry_after = imap_kind(server_said)
        if kind == "imap_refused" and closed:
            kind = "connection_closed"
        return self._refusal(kind, server_said=server_said, retry_after=retry_after)

    def _discard(self) -> None:
        imap, self._imap = self._imap, None
        if imap is not None:
            try:
                imap.shutdown()
            except (OSError, ValueError, AttributeError):
                pass


class _Reader:
    """A buffered reader over the connection's socket with the file methods imaplib uses.

    Unlike socket.makefile, a read that times out loses nothing and leaves it usable: IDLE waits
    with a time-out and reads on after it.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._buffer = bytearray()

    def readline(self, limit: int = -1) -> bytes:
        """Return the next line with its end, or at most `limit` bytes; b"" at the end of the stream."""
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end != -1:
                return self._take(end + 1 if limit < 0 else min(end + 1, limit))
            if 0 <= limit <= len(self._buffer):
                return self._take(limit)
            start = len(self._buffer)
            if not self._receive():
                return self._take(len(self._buffer))

    def read(self, size: int) -> bytes:
        """Return exactly `size` bytes, fewer only at the end of the stream."""
        if len(self._buffer) >= size:
            return self._take(size)
        # A message body: received straight into its own buffer, not through the line buffer.
        body = bytearray(size)
        have = len(self._buffer)
        body[:have] = self._buffer
        self._buffer.clear()
        view = memoryview(body)
        while have < size:
            received = self._sock.recv_into(view[have:], size - have)
            if not received:
                break
            have += received
        return bytes(view[:have])

    def read_answer(self, tag: bytes) -> tuple[bytes, bytes | None]:
        """Return a command's untagged answer, read in bulk up to its tagged line, and that line.

        Each literal in the answer is replaced by a NUL, as `_read_rest` does: a line inside one
        is never taken for the tagged line. The line is None when the stream ended first (what
        came is returned, a BYE among it).
        """
        ends = re.compile(rb"\{(\d+)\+?\}\r\n|^" + re.escape(tag) + rb" [^\n]*\n", re.MULTILINE)
        parts = []
        scanned = 0
        while True:
            found = ends.search(self._buffer, scanned)
            if found is None:
                scanned = max(scanned, self._buffer.rfind(b"\n") + 1)
            elif found[1] is None:
                parts.append(self._take(found.start()))
                return b"".join(parts), self._take(found.end() - found.start())
            elif len(self._buffer) >= found.end() + (size := int(found[1])):
                marker = found.end() - found.start()
                parts.append(self._take(found.start()) + b"\x00")
                del self._buffer[: marker + size]
                scanned = 0
                continue
            if not self._receive():
                parts.append(self._take(len(self._buffer)))
                return b"".join(parts), None

    def close(self) -> None:
        """Drop what is buffered; the socket is imaplib's to close."""
        self._buffer.clear()

    def _take(self, size: int) -> bytes:
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    def _receive(self) -> bool:
        received = self._sock.recv(RECEIVE_SIZE)
        self._buffer += received
        return bool(received)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def quote(name: str) -> str:
    """Return a folder name as an IMAP quoted string, in modified UTF-7."""
    encoded = imap_utf7.encode(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_flags(text: bytes) -> frozenset[str]:
    """Return the flags of a FLAGS list's inside, such as b"\\Seen $Forwarded", without \\Recent."""
    # \Recent belongs to one session, not to the message: keeping it would change at every sync.
    return frozenset(flag for flag in text.decode("utf-8", "replace").split() if flag.lower() != "\\recent")


def parse_flag_scan(answer: bytes) -> dict[int, frozenset[str]]:
    """Return the flags by UID of a flag scan's untagged answer (`* n FETCH (UID u FLAGS (...))` lines).

    FETCH lines without a UID (another client's change, unsolicited) are left for next time.
    """
    flags: dict[int, frozenset[str]] = {}
    # Most messages share a handful of flag sets: each is parsed once.
    parsed: dict[bytes, frozenset[str]] = {}
    for uid, text, text_first, uid_last, other in FLAG_SCAN_LINE.findall(answer):
        if uid_last:
            uid, text = uid_last, text_first
        elif not uid:
            found_uid, found_flags = UID_ITEM.search(b" " + other), FLAGS_ITEM.search(other)
            if found_uid is None:
                continue
            uid, text = found_uid[1], found_flags[1] if found_flags else b""
        value = parsed.get(text)
        if value is None:
            value = parsed[text] = parse_flags(text)
        flags[int(uid)] = value
    return flags


def message_id_of(header: bytes) -> str | None:
    """Return the Message-ID of a header block, unfolded, or None when it has none."""
    found = MESSAGE_ID.search(header)
    if found is None:
        return None
    value = b" ".join(found[1].split()).decode("utf-8", "replace")
    return value or None


def message_from(text: bytes, literals: list[bytes]) -> FetchedMessage | None:
    """Return the message of one FETCH answer, or None for an answer without a body (a flag change)."""
    body = BODY_ITEM.search(text)
    uid = UID_ITEM.search(text)
    if body is None or uid is None:
        return None
    if body[1] is not None:
        raw = literals[text[: body.start(1)].count(b"\x00")]
    elif body[2] is not None:
        raw = re.sub(rb"\\(.)", rb"\1", body[2])
    else:
        raw = b""
    flags = FLAGS_ITEM.search(text)
    size = SIZE_ITEM.search(text)
    internaldate = INTERNALDATE_ITEM.search(text)
    arrived = None
    if internaldate is not None:
        try:
            arrived = parse_to_datetime(internaldate[1], normalise=False).astimezone(timezone.utc)
        except ValueError:
            arrived = None
    return FetchedMessage(
        uid=int(uid[1]),
        flags=parse_flags(flags[1]) if flags else frozenset(),
        internaldate=arrived or datetime.now(timezone.utc),
        size=int(size[1]) if size else len(raw),
        raw=raw,
    )


def compress(uids: Iterable[int]) -> str:
    """Return ascending UIDs as an IMAP sequence set with ranges: 1:3,7,9:10."""
    ranges: list[list[int]] = []
    for uid in uids:
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(first) if first == last else f"{first}:{last}" for first, last in ranges)


def uid_sets(uids: Sequence[int], max_length: int = MAX_SET_LENGTH) -> list[str]:
    """Return the sorted UIDs as sequence sets, each short enough for one command line."""
    sets, current, length = [], [], 0
    for uid in sorted(set(uids)):
        # Counting a UID's digits and comma over-estimates a set with ranges: safe.
        if current and length + len(str(uid)) + 1 > max_length:
            sets.append(compress(current))
            current, length = [], 0
        current.append(uid)
        length += len(str(uid)) + 1
    if current:
        sets.append(compress(current))
    return sets


def expand_uid_set(text: str) -> list[int]:
    """Return the UIDs of a sequence set of numbers and ranges (no "*")."""
    uids = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        low, high = sorted((int(first), int(last or first)))
        uids.extend(range(low, high + 1))
    return uids


def plan_chunks(
    uids: Sequence[int], sizes: dict[int, int], batch_messages: int, batch_bytes: int
) -> Iterator[list[int]]:
    """Yield the UIDs in ascending chunks of at most `batch_messages` and `batch_bytes` (one at least)."""
    chunk, total = [], 0
    for uid in sorted(set(uids)):
        size = sizes.get(uid, 0)
        if chunk and (len(chunk) >= batch_messages or total + size > batch_bytes):
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += size
    if chunk:
        yield chunk
