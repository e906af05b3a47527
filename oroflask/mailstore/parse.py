"""Read what lists, threads and search need from a raw message, never raising on a bad one.

The headers are parsed by the standard library's `email` package (policy compat32: measured
several times faster than `default`, and it keeps what it cannot read instead of raising). The
body is not handed to it whole: its feed parser splits every line of a 200 KB attachment only to
learn the attachment's name. The body is cut at the MIME boundaries instead, each part's headers
go to the same parser, and only the first text part's first few kilobytes are decoded.
"""

import binascii
import codecs
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

SNIPPET_LENGTH = 200
# Enough encoded text for a snippet: a plain part's first 8 KB, an HTML part's first 64 KB (its
# head and styles come before any text).
PLAIN_PREFIX = 8 * 1024
HTML_PREFIX = 64 * 1024
# A message nests a few levels of multipart; a hostile one might nest thousands.
MAX_DEPTH = 12
MAX_PARTS = 1000
MAX_ERROR = 200

_headers = BytesHeaderParser(policy=compat32)
_message_ids = re.compile(r"<[^<>\s]+>")
_reply_prefix = re.compile(
    r"^(?:\s*(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|ref|odp|fs|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_blank_line = re.compile(rb"\r?\n\r?\n")
_specials = re.compile(r'[()<>\[\]:;@\\,"]')
_DELIMITER_ENDS = (b"", b"-", b"\r", b"\n", b" ", b"\t")


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
    if not raw.strip():
        return Indexed(parse_error="empty message")
    head, body = _split_head(raw)
    headers = _parse_headers(head)
    if not headers.keys():
        return Indexed(parse_error="no headers", snippet=_snippet(_text(raw, None, None, PLAIN_PREFIX)))
    body_reader = _Body()
    body_reader.read(headers, body, depth=0)
    from_name, from_address = "", ""
    senders = _addresses(headers, "from")
    if senders:
        from_name, from_address = senders[0]
    to = _addresses(headers, "to")
    cc = _addresses(headers, "cc")
    in_reply_to = _ids(headers.get("in-reply-to"))
    references = _ids(headers.get("references"))
    if in_reply_to and in_reply_to[0] not in references:
        references = (*references, in_reply_to[0])
    message_id = headers.get("message-id")
    return Indexed(
        message_id=normalised_message_id(str(message_id)) if message_id is not None else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        subject=" ".join(_decoded(headers.get("subject")).split()),
        date=_date(headers.get("date")),
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


def _parse_headers(head: bytes) -> Message:
    """Parse a header block; raw 8-bit values (unencoded UTF-8, against the RFC but common) become text.

    compat32 keeps such bytes as surrogates and hands them out as a Header of "unknown-8bit",
    which prints each byte as a replacement character.
    """
    headers = _headers.parsebytes(head)
    if head.isascii():
        return headers
    readable = Message()
    for name, value in headers.raw_items():
        readable[name] = _unescaped(value)
    for defect in headers.defects:
        readable.defects.append(defect)
    return readable


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Cut a message or part at its first blank line; one that starts with it has no headers."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw[2 if raw.startswith(b"\r\n") else 1 :]
    blank = _blank_line.search(raw)
    if blank is None:
        return raw, b""
    return raw[: blank.start()] + b"\n", raw[blank.end() :]


class _Body:
    """Walks the MIME tree along its boundaries: attachment names and the first text parts."""

    def __init__(self) -> None:
        self.attachments: list[str] = []
        self.plain: tuple[bytes, str | None, str | None] | None = None
        self.html: tuple[bytes, str | None, str | None] | None = None
        self.error: str | None = None
        self.parts = 0

    def read(self, headers: Message, body: bytes, depth: int) -> None:
        self.parts += 1
        if depth > MAX_DEPTH or self.parts > MAX_PARTS:
            self.error = self.error or "too many nested MIME parts"
            return
        content_type = headers.get_content_type()
        maintype = content_type.partition("/")[0]
        if maintype == "multipart":
            self._multipart(headers, body, content_type, depth)
            return
        filename = _filename(headers)
        disposition = headers.get_content_disposition()
        if content_type == "message/rfc822" or disposition == "attachment" or (
            filename is not None and not (disposition == "inline" and maintype == "image")
        ):
            self.attachments.append(filename or "")
            return
        if maintype != "text":
            return
        encoding = str(headers.get("content-transfer-encoding", "")).strip().lower() or None
        charset = headers.get_content_charset()
        if content_type == "text/html":
            if self.html is None:
                self.html = (body[:HTML_PREFIX], encoding, charset)
        elif self.plain is None:
            self.plain = (body[:PLAIN_PREFIX], encoding, charset)

    def _multipart(self, headers: Message, body: bytes, content_type: str, depth: int) -> None:
        boundary = headers.get_param("boundary")
        if isinstance(boundary, tuple):
            boundary = str(boundary[2])
        if not boundary:
            self.error = self.error or f"{content_type} without a boundary"
            if self.plain is None:
                self.plain = (body[:PLAIN_PREFIX], None, None)
            return
        parts = _parts(body, boundary.encode("ascii", "surrogateescape"))
        if parts is None:
            self.error = self.error or f"{content_type} boundary not found"
            if self.plain is None:
                self.plain = (body[:PLAIN_PREFIX], None, None)
            return
        for part in parts:
            head, part_body = _split_head(part)
            part_headers = _parse_headers(head) if head else Message()
            if content_type == "multipart/digest" and "content-type" not in part_headers:
                part_headers["Content-Type"] = "message/rfc822"
            self.read(part_headers, part_body, depth + 1)
            if self.error == "too many nested MIME parts":
                return

    def text(self) -> str:
        if self.plain is not None:
            text = _text(*self.plain)
            if text.strip():
                return text
        if self.html is not None:
            return _html_text(_text(*self.html))
        return ""


def _parts(body: bytes, boundary: bytes) -> list[bytes] | None:
    """Return the parts between a multipart body's delimiter lines, or None without any."""
    delimiter = b"--" + boundary
    starts: list[tuple[int, int]] = []  # (where the delimiter line starts, where its part starts)
    position = body.find(delimiter)
    closed = False
    while position != -1:
        after = position + len(delimiter)
        # A delimiter is a line of its own: "--boundary", "--boundary--", maybe trailing blanks.
        if (position == 0 or body[position - 1] == 0x0A) and body[after : after + 1] in _DELIMITER_ENDS:
            line_end = body.find(b"\n", after)
            line_end = len(body) if line_end == -1 else line_end + 1
            # The line break before a delimiter belongs to the delimiter, not to the part.
            previous_end = position - 2 if body[position - 2 : position] == b"\r\n" else position - 1
            starts.append((max(previous_end, 0), line_end))
            if body[after : after + 2] == b"--":
                closed = True
                break
        position = body.find(delimiter, position + len(delimiter))
    if not starts:
        return None
    parts = [body[begin:end] for (_, begin), (end, _) in zip(starts, starts[1:])]
    if not closed:
        # A message cut short: its last part runs to the end.
        parts.append(body[starts[-1][1] :])
    return parts


def _filename(headers: Message) -> str | None:
    try:
        name = headers.get_filename()
    except (HeaderParseError, LookupError, ValueError, TypeError):
        return ""
    if name is None:
        return None
    return _decoded(name) if "=?" in name else _unescaped(name)


def _text(body: bytes, encoding: str | None, charset: str | None, limit: int | None = None) -> str:
    """Decode the transfer encoding and the charset of a text part, replacing what fails."""
    if limit is not None:
        body = body[:limit]
    if encoding == "base64":
        compact = b"".join(body.split())
        compact = compact[: len(compact) - len(compact) % 4]
        try:
            body = binascii.a2b_base64(compact)
        except binascii.Error:
            body = b""
    elif encoding == "quoted-printable":
        body = binascii.a2b_qp(body)
    return body.decode(_codec(charset), "replace")


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
    """The text an HTML body shows, without its head, scripts and styles."""

    HIDDEN = frozenset({"head", "script", "style", "title", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0
        self.length = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in ("br", "p", "div", "td", "li", "tr"):
            self.chunks.append(" ")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.chunks.append(data)
            self.length += len(data)


def _html_text(html: str) -> str:
    parser = _TextOfHTML()
    # Fed in slices, so a long body stops being read once it has given enough text.
    for start in range(0, len(html), 4096):
        parser.feed(html[start : start + 4096])
        if parser.length > SNIPPET_LENGTH * 4:
            break
    return " ".join(parser.chunks)


def _snippet(text: str) -> str:
    collapsed = " ".join(text[: SNIPPET_LENGTH * 8].split())
    if len(collapsed) <= SNIPPET_LENGTH:
        return collapsed
    cut = collapsed[:SNIPPET_LENGTH]
    space = cut.rfind(" ")
    return (cut[:space] if space > SNIPPET_LENGTH // 2 else cut).rstrip() + "…"


def _unescaped(value: str) -> str:
    """Turn bytes the parser kept as surrogates (raw 8-bit headers) back into text, as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _decoded(value) -> str:
    """Decode a header's RFC 2047 words and raw 8-bit bytes into text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if "=?" not in value:
        return _unescaped(value)
    try:
        words = decode_header(value)
    except (HeaderParseError, ValueError, binascii.Error):
        return _unescaped(value)
    text = []
    for word, charset in words:
        if isinstance(word, str):
            text.append(_unescaped(word))
        else:
            text.append(word.decode(_codec(charset), "replace"))
    # decode_header drops the spaces between an encoded word and the plain text beside it.
    return "".join(text) if len(words) == 1 else _join_words(words, text)


def _join_words(words, text: list[str]) -> str:
    joined = []
    for (word, charset), decoded in zip(words, text):
        if joined and (charset is None or joined[-1][1] is None):
            joined.append((" ", None))
        joined.append((decoded.strip() if charset is None else decoded, charset))
    return "".join(part for part, _ in joined)


def _addresses(headers: Message, name: str) -> list[tuple[str, str]]:
    values = headers.get_all(name)
    if not values:
        return []
    try:
        pairs = getaddresses([str(value) for value in values])
    except (HeaderParseError, ValueError, TypeError, IndexError):
        return []
    found = []
    for display, address in pairs:
        address = _unescaped(address).strip().lower()[:320]
        display = " ".join(_decoded(display).split())
        if address or display:
            found.append((display, address))
    return found


def _address_text(addresses: list[tuple[str, str]]) -> str:
    return ", ".join(_address(name, address) for name, address in addresses)


def _address(name: str, address: str) -> str:
    if not (name and address):
        return name or address
    if _specials.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def _ids(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(dict.fromkeys(_unescaped(found)[:998] for found in _message_ids.findall(str(value))))


def _bare_id(value) -> str | None:
    """Return a Message-ID written without its angle brackets, as some senders do, or None."""
    if value is None:
        return None
    bare = _unescaped(str(value)).strip()
    return f"<{bare}>"[:998] if bare and " " not in bare else None


def _date(value) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
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
    return error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 1] + "…"
