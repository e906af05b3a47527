"""Read what lists, threads and search need from a raw message, never raising on a bad one.

Measured on a realistic mix (47 KB on average, 12 % with a 200 KB attachment; see
tests/mailstore/measure.py), the standard library's parser takes about 1 ms of CPU a message with
policy compat32 and 2 ms with `default`: its feed parser splits every line of an attachment only
to learn the attachment's name, and the address parser walks each name character by character.
That is ten times the budget of a sync that stores thousands of messages a second. So the work is
split:

- the message is cut at its first blank line and its MIME parts at their boundary lines
  (`bytes.find`, no line splitting), and header fields are split by one regular expression;
- the standard library does the parts that are easy to get wrong: RFC 2047 encoded words
  (`email.header.decode_header`), address lists with quotes, comments and groups
  (`email.utils.getaddresses`, when the simple "Name <address>" form does not match), dates
  (`email.utils.parsedate_to_datetime`) and file names with RFC 2231 parameters
  (`email.message.Message.get_filename`);
- only the first text part's first kilobytes are decoded, for the snippet.
"""

import binascii
import codecs
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from html.parser import HTMLParser

SNIPPET_LENGTH = 200
# Enough encoded text for a snippet: a plain part's first 4 KB; an HTML part's first 16 KB, or
# 128 KB when that held no text (a newsletter's head and styles come before any).
PLAIN_PREFIX = 4 * 1024
HTML_PREFIXES = (16 * 1024, 128 * 1024)
# A message nests a few levels of multipart; a hostile one might nest thousands.
MAX_DEPTH = 12
MAX_PARTS = 1000
MAX_ERROR = 200

# A header field: its name, then its value with any folded lines after it.
_field = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)
_WANTED = frozenset({
    "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references",
    "content-type", "content-disposition", "content-transfer-encoding",
})
_message_ids = re.compile(r"<[^<>\s]+>")
_reply_prefix = re.compile(
    r"^(?:\s*(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|ref|odp|fs|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
# One mailbox of an address list in its two plain forms: a name (maybe quoted) and <address>,
# or a bare address. Anything else (comments, groups, routes) goes to getaddresses.
_mailbox = re.compile(
    r'[ \t]*(?:(?:"((?:[^"\\]|\\.)*)"|([^",;:<>()\[\]\\@]*?))[ \t]*<([^<>\s",;()]*)>|([^\s<>",;:()]+@[^\s<>",;:()]+))[ \t]*'
)
_quoted_pair = re.compile(r"\\(.)")
_param = re.compile(r';\s*([a-z*0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*))', re.IGNORECASE)
_specials = re.compile(r'[()<>\[\]:;@\\,"]')
# Control characters become spaces in a snippet (NUL above all: PostgreSQL refuses it in text).
_controls = re.compile(r"[\x00-\x1f\x7f]")
_DELIMITER_ENDS = (b"", b"-", b"\r", b"\n", b" ", b"\t")

Headers = dict[str, list[str]]


@dataclass(frozen=True)
class Indexed:
    """What the store keeps of a message beside its raw bytes."""

    message_id: str | None = None
    in_reply_to: str | None = None
    # Every Message-ID of References, then In-Reply-To's if References lacks it: the ancestors.
    references: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    from_name: str = ""
    from_address: str = ""
    to_text: str = ""
    to_addresses: tuple[str, ...] = ()
    cc_text: str = ""
    cc_addresses: tuple[str, ...] = ()
    has_attachments: bool = False
    attachment_names: tuple[str, ...] = ()
    snippet: str = ""
    parse_error: str | None = None


def index(raw: bytes) -> Indexed:
    """Return the index fields of a raw message; a message it cannot read gets `parse_error`."""
    try:
        return _index(raw)
    except Exception as error:  # noqa: BLE001  (a message must be stored whatever it holds)
        return Indexed(parse_error=_error_text(f"unreadable message: {type(error).__name__}: {error}"))


def normalised_message_id(value: str | bytes | None) -> str | None:
    """Return a Message-ID header's id as the index keeps it ("<id>"), or None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    found = _ids(value)
    return found[0] if found else _bare_id(value)


def normalised_subject(subject: str) -> tuple[str, bool]:
    """Return the subject without Re:/Fwd:/AW: prefixes, and whether it had one."""
    stripped = _reply_prefix.sub("", subject, count=1)
    return " ".join(stripped.split()), stripped != subject


def _index(raw: bytes) -> Indexed:
    if not raw or raw.isspace():
        return Indexed(parse_error="empty message")
    head_end, body_start = _split_head(raw, 0, len(raw))
    head = raw[:head_end]
    headers = _parse_headers(head)
    if not headers and _field.search(head) is None:
        return Indexed(parse_error="no header fields", snippet=_snippet(_text(raw[:PLAIN_PREFIX], None, None)))
    body_reader = _Body(raw)
    body_reader.read(headers, body_start, len(raw), depth=0)
    senders = _addresses(headers.get("from"))
    from_name, from_address = senders[0] if senders else ("", "")
    to = _addresses(headers.get("to"))
    cc = _addresses(headers.get("cc"))
    in_reply_to = _ids(_first(headers, "in-reply-to"))
    references = _ids(_first(headers, "references"))
    if in_reply_to and in_reply_to[0] not in references:
        references = (*references, in_reply_to[0])
    message_id = _first(headers, "message-id")
    return Indexed(
        message_id=normalised_message_id(message_id) if message_id is not None else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        subject=" ".join(_decoded(_first(headers, "subject")).split()),
        date=_date(_first(headers, "date")),
        from_name=from_name,
        from_address=from_address,
        to_text=_address_text(to),
        to_addresses=tuple(address for _, address in to if address),
        cc_text=_address_text(cc),
        cc_addresses=tuple(address for _, address in cc if address),
        has_attachments=bool(body_reader.attachments),
        attachment_names=tuple(name for name in body_reader.attachments if name),
        snippet=_snippet(body_reader.text()),
        parse_error=_error_text(body_reader.error) if body_reader.error else None,
    )


def _parse_headers(head: bytes) -> Headers:
    """Return the fields of a header block that the index reads, unfolded, by lowercase name.

    A raw 8-bit value (unencoded: against the RFC, but common) is read as UTF-8, else Windows-1252.
    """
    headers: Headers = {}
    for name, value in _field.findall(head):
        key = name.decode("ascii").lower()
        if key in _WANTED:
            # NUL never belongs in a header, and PostgreSQL refuses it in text.
            unfolded = value.replace(b"\r\n", b"").replace(b"\n", b"").replace(b"\0", b"").strip()
            headers.setdefault(key, []).append(_header_text(unfolded))
    return headers


def _header_text(value: bytes) -> str:
    if value.isascii():
        return value.decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # Older European mail sends its headers' 8-bit bytes in the sender's Windows code page.
        return value.decode("cp1252", "replace")


def _first(headers: Headers, name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _split_head(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Return where the headers of the message or part raw[start:end] end and its body starts.

    Headers end at the first blank line; a part that starts with one has none; without one,
    it is all headers.
    """
    if raw.startswith(b"\n", start):
        return start, start + 1
    if raw.startswith(b"\r\n", start):
        return start, start + 2
    crlf = raw.find(b"\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, end if crlf == -1 else crlf + 2)
    if lf != -1:
        return lf + 1, lf + 2
    if crlf != -1:
        return crlf + 1, crlf + 3
    return end, end


@dataclass(frozen=True)
class _ContentType:
    """A part's Content-Type: "type/subtype" lowercased and its simple parameters."""

    value: str
    params: dict[str, str]

    @classmethod
    def of(cls, headers: Headers, default: str = "text/plain") -> "_ContentType":
        raw = _first(headers, "content-type")
        if raw is None:
            return cls(default, {})
        kind, _, rest = raw.partition(";")
        kind = kind.strip().lower()
        if kind.count("/") != 1:
            # RFC 2045: an invalid Content-Type is read as text/plain.
            kind = "text/plain"
        params = {}
        for match in _param.finditer(";" + rest):
            name, quoted, plain = match.groups()
            params.setdefault(name.lower(), _quoted_pair.sub(r"\1", quoted) if quoted is not None else plain)
        return cls(kind, params)


class _Body:
    """Walks the MIME tree along its boundaries: attachment names and the first text parts.

    Parts are offsets into the raw message: a 200 KB attachment is searched for the next
    boundary, never copied or decoded.
    """

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.attachments: list[str] = []
        # Where the first text/plain and text/html bodies are, their transfer encoding and charset.
        self.plain: tuple[int, int, str | None, str | None] | None = None
        self.html: tuple[int, int, str | None, str | None] | None = None
        self.error: str | None = None
        self.parts = 0

    def read(self, headers: Headers, start: int, end: int, depth: int, default: str = "text/plain") -> None:
        self.parts += 1
        if depth > MAX_DEPTH or self.parts > MAX_PARTS:
            self.error = self.error or "too many nested MIME parts"
            return
        content_type = _ContentType.of(headers, default)
        maintype = content_type.value.partition("/")[0]
        if maintype == "multipart":
            self._multipart(content_type, start, end, depth)
            return
        disposition = _first(headers, "content-disposition")
        disposition_type = disposition.partition(";")[0].strip().lower() if disposition else None
        named = disposition is not None or any(name.startswith("name") for name in content_type.params)
        filename = _filename(headers) if named else None
        # A named part shown inline is part of the body when it is text or an image (a pasted
        # picture, a cid: logo); other named parts are attachments, inline or not (Apple Mail
        # sends PDFs inline).
        if content_type.value == "message/rfc822" or disposition_type == "attachment" or (
            filename is not None and not (disposition_type == "inline" and maintype in ("text", "image"))
        ):
            self.attachments.append(filename or "")
            return
        if maintype != "text":
            return
        encoding = (_first(headers, "content-transfer-encoding") or "").strip().lower() or None
        charset = content_type.params.get("charset")
        if content_type.value == "text/html":
            if self.html is None:
                self.html = (start, end, encoding, charset)
        elif content_type.value == "text/plain" and self.plain is None:
            self.plain = (start, end, encoding, charset)

    def _multipart(self, content_type: _ContentType, start: int, end: int, depth: int) -> None:
        boundary = content_type.params.get("boundary")
        parts = _parts(self.raw, start, end, boundary.encode("utf-8", "replace")) if boundary else None
        if parts is None:
            problem = "boundary not found" if boundary else "without a boundary"
            self.error = self.error or f"{content_type.value} {problem}"
            if self.plain is None:
                self.plain = (start, end, None, None)
            return
        # RFC 2046: the parts of a digest are messages unless they say otherwise.
        default = "message/rfc822" if content_type.value == "multipart/digest" else "text/plain"
        for part_start, part_end in parts:
            head_end, body_start = _split_head(self.raw, part_start, part_end)
            headers = _parse_headers(self.raw[part_start:head_end]) if head_end > part_start else {}
            self.read(headers, body_start, part_end, depth + 1, default)
            if self.error == "too many nested MIME parts":
                return

    def text(self) -> str:
        """Return the start of the text a reader sees first: the plain part's, else the HTML's."""
        if self.plain is not None:
            start, end, encoding, charset = self.plain
            text = _text(self.raw[start : min(end, start + PLAIN_PREFIX)], encoding, charset)
            if text and not text.isspace():
                return text
        if self.html is not None:
            start, end, encoding, charset = self.html
            for prefix in HTML_PREFIXES:
                text = _html_text(_text(self.raw[start : min(end, start + prefix)], encoding, charset))
                if len(text) >= SNIPPET_LENGTH or end - start <= prefix:
                    return text
            return text
        return ""


def _parts(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]] | None:
    """Return the offsets of the parts between a multipart body's delimiter lines, or None without any."""
    delimiter = b"--" + boundary
    lines: list[tuple[int, int]] = []  # (where a delimiter line starts, where the part after it starts)
    position = raw.find(delimiter, start, end)
    closed = False
    while position != -1:
        after = position + len(delimiter)
        # A delimiter is a line of its own: "--boundary", "--boundary--", maybe trailing blanks.
        if (position == start or raw[position - 1] == 0x0A) and raw[after : after + 1] in _DELIMITER_ENDS:
            line_end = raw.find(b"\n", after, end)
            line_end = end if line_end == -1 else line_end + 1
            # The line break before a delimiter belongs to the delimiter, not to the part.
            previous_end = position - 2 if raw[position - 2 : position] == b"\r\n" else position - 1
            lines.append((max(previous_end, start), line_end))
            if raw[after : after + 2] == b"--":
                closed = True
                break
        position = raw.find(delimiter, after, end)
    if not lines:
        return None
    parts = [(begin, finish) for (_, begin), (finish, _) in zip(lines, lines[1:])]
    if not closed:
        # A message cut short: its last part runs to the end.
        parts.append((lines[-1][1], end))
    return parts


def _filename(headers: Headers) -> str | None:
    """Return a part's file name (Content-Disposition filename or Content-Type name, RFC 2231 or 2047)."""
    fields = Message()
    for name in ("content-type", "content-disposition"):
        value = _first(headers, name)
        if value is not None:
            fields[name] = value
    try:
        filename = fields.get_filename()
    except (HeaderParseError, LookupError, ValueError, TypeError, IndexError):
        return ""
    if filename is None:
        return None
    # RFC 2231's %00 is NUL, which PostgreSQL refuses in text.
    return " ".join(_decoded(filename).replace("\0", "").split())


def _text(body: bytes, encoding: str | None, charset: str | None) -> str:
    """Decode the transfer encoding and the charset of a text part, replacing what fails."""
    if encoding == "base64":
        compact = b"".join(body.split())
        compact = compact[: len(compact) - len(compact) % 4]
        try:
            body = binascii.a2b_base64(compact)
        except binascii.Error:
            body = b""
    elif encoding == "quoted-printable":
        body = binascii.a2b_qp(body)
    return _decode(body, charset)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(_codec(charset), "replace")
    except LookupError:
        # A charset that names a codec of another kind (base64, rot13): not a text encoding.
        return data.decode("utf-8", "replace")


def _codec(charset: str | None) -> str:
    if not charset:
        return "utf-8"
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return "utf-8"
    # Mail that says us-ascii or latin-1 is often really Windows-1252 (Outlook's quotes, the euro).
    return "cp1252" if name in ("ascii", "latin-1", "iso8859-1") else name


class _TextOfHTML(HTMLParser):
    """The text an HTML body shows, without its head, scripts and styles.

    Inline elements (<b>, <a>, <span>...) join their text as it reads ("<b>done</b>." is
    "done."); a block element or a line break separates words.
    """

    HIDDEN = frozenset({"head", "script", "style", "title", "template"})
    BREAKS = frozenset({
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "img", "li", "main", "nav",
        "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    })

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0
        self.length = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "body":
            # A head left open (no </head>) ends here.
            self.hidden = 0
        elif tag in self.BREAKS:
            self.chunks.append(" ")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        elif tag in self.BREAKS:
            self.chunks.append(" ")

    def handle_data(self, data):
        if self.hidden:
            return
        if data.isspace():
            self.chunks.append(" ")  # between two inline elements: one space, counted as no text
        else:
            self.chunks.append(data)
            self.length += len(data)


def _html_text(html: str) -> str:
    parser = _TextOfHTML()
    # Fed in slices, so a long body stops being read once it has given enough text.
    for start in range(0, len(html), 4096):
        parser.feed(html[start : start + 4096])
        if parser.length > SNIPPET_LENGTH * 4:
            break
    return "".join(parser.chunks)


def _snippet(text: str) -> str:
    collapsed = " ".join(_controls.sub(" ", text[: SNIPPET_LENGTH * 3]).split())
    if len(collapsed) < SNIPPET_LENGTH < len(text):
        collapsed = " ".join(_controls.sub(" ", text).split())
    if len(collapsed) <= SNIPPET_LENGTH:
        return collapsed
    cut = collapsed[:SNIPPET_LENGTH]
    space = cut.rfind(" ")
    return (cut[:space] if space > SNIPPET_LENGTH // 2 else cut).rstrip() + "…"


@lru_cache(maxsize=4096)
def _decoded(value: str | None) -> str:
    """Decode a header's RFC 2047 encoded words (a mailbox repeats its names and subjects: cached)."""
    if not value:
        return ""
    if "=?" not in value:
        return value
    try:
        words = decode_header(value)
    except (HeaderParseError, ValueError, binascii.Error):
        return value
    text = []
    for word, charset in words:
        if isinstance(word, str):
            text.append(word)
        else:
            text.append(_decode(word, charset))
    # decode_header drops the spaces between an encoded word and the plain text beside it.
    decoded = "".join(text) if len(words) == 1 else _join_words(words, text)
    # An encoded word may hold NUL, which PostgreSQL refuses in text.
    return decoded.replace("\0", "")


def _join_words(words, text: list[str]) -> str:
    joined = []
    for (_, charset), decoded in zip(words, text):
        if joined and (charset is None or joined[-1][1] is None):
            joined.append((" ", None))
        joined.append((decoded.strip() if charset is None else decoded, charset))
    return "".join(part for part, _ in joined)


def _addresses(values: list[str] | None) -> list[tuple[str, str]]:
    """Return the (name, address) pairs of these address headers, addresses lowercased."""
    if not values:
        return []
    found = []
    for value in values:
        found.extend(_address_list(value))
    return found


@lru_cache(maxsize=4096)
def _address_list(value: str) -> tuple[tuple[str, str], ...]:
    pairs = _simple_addresses(value)
    if pairs is None:
        try:
            pairs = getaddresses([value])
        except (HeaderParseError, ValueError, TypeError, IndexError):
            return ()
    found = []
    for display, address in pairs:
        address = address.strip().lower()[:320]
        display = " ".join(_decoded(display).split())
        if address or display:
            found.append((display, address))
    return tuple(found)


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """Read a list of plain mailboxes fast; None when it holds anything else."""
    pairs = []
    position, end = 0, len(value)
    while position < end:
        if value[position] == ",":
            position += 1
            continue
        match = _mailbox.match(value, position)
        if match is None:
            return None
        quoted, plain, address, bare = match.groups()
        if bare is not None:
            pairs.append(("", bare))
        else:
            pairs.append((_quoted_pair.sub(r"\1", quoted) if quoted is not None else plain, address))
        position = match.end()
        if position < end and value[position] != ",":
            return None
    return pairs


def _address_text(addresses: list[tuple[str, str]]) -> str:
    return ", ".join(_address(name, address) for name, address in addresses)


def _address(name: str, address: str) -> str:
    if not (name and address):
        return name or address
    if _specials.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def _ids(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(dict.fromkeys(found[:998] for found in _message_ids.findall(value)))


def _bare_id(value: str) -> str | None:
    """Return a Message-ID written without its angle brackets, as some senders do, or None."""
    bare = value.strip()
    return f"<{bare}>"[:998] if bare and " " not in bare else None


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        # "-0000" says the zone is unknown; UTC is the best guess.
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


def _error_text(error: str) -> str:
    error = _controls.sub(" ", error)
    return error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 1] + "…"
