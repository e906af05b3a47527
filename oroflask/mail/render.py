"""A stored message made safe to show: HTML sanitised by nh3, plain text with its links, its
attachments and inline images found by index or Content-ID."""

import email
import email.policy
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from markupsafe import Markup, escape

# Tags and attributes mail layouts use; no script, form, embedded object or style sheet.
TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del", "div",
    "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol",
    "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "tt", "u", "ul",
}
ATTRIBUTES = {
    "*": {"align", "bgcolor", "border", "cellpadding", "cellspacing", "class", "color", "dir", "height",
          "lang", "style", "title", "valign", "width"},
    "a": {"href", "name"},
    "img": {"alt", "src"},
    "font": {"face", "size"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# CSS that lays out and colours; none of it can name a URL (background, list-style-image,
# border-image and content can, and are left out).
STYLE_PROPERTIES = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color", "border-left",
    "border-radius", "border-right", "border-spacing", "border-style", "border-top", "border-width", "color",
    "direction", "display", "font", "font-family", "font-size", "font-style", "font-weight", "height",
    "letter-spacing", "line-height", "margin", "margin-bottom", "margin-left", "margin-right", "margin-top",
    "max-width", "min-width", "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
    "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align", "white-space",
    "width", "word-break",
}
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_remote_image = re.compile(r"<img[^>]+src\s*=\s*[\"']?\s*https?:", re.IGNORECASE)
_link = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)
_mime_type = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


@dataclass(frozen=True)
class Attachment:
    """A part of a message offered as a download."""

    index: int
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Shown:
    """What the conversation shows of one message."""

    html: bool
    text: Markup
    attachments: list[Attachment]
    remote_images: bool


def read(raw: bytes) -> EmailMessage:
    """Return the message parsed by the standard library."""
    return email.message_from_bytes(raw, policy=email.policy.default)


def show(raw: bytes) -> Shown:
    """Return how the message is shown: an HTML body (served apart) or its plain text with links."""
    message = read(raw)
    html = _body(message, "html")
    if html is not None:
        return Shown(True, Markup(""), attachments(message), bool(_remote_image.search(html)))
    plain = _body(message, "plain")
    return Shown(False, linkify(plain or ""), attachments(message), False)


def safe_html(raw: bytes, cid_url: Callable[[str], str], remote_images: bool) -> str:
    """Return the message's HTML body sanitised: cid: images point at `cid_url`, remote ones only when allowed."""
    html = _body(read(raw), "html") or ""

    def attribute(tag: str, name: str, value: str) -> str | None:
        if tag == "img" and name == "src":
            lowered = value.strip().lower()
            if lowered.startswith("cid:"):
                return cid_url(value.strip()[4:])
            if lowered.startswith("https:") or lowered.startswith("http:"):
                return value if remote_images else None
            return None
        return value

    import nh3  # only a message's HTML view sanitises: the worker and the other pages do without it

    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=attribute,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=STYLE_PROPERTIES,
        strip_comments=True,
    )


def linkify(text: str) -> Markup:
    """Return plain text escaped, its web links made clickable (opened apart, without a referrer)."""
    pieces, last = [], 0
    for match in _link.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append(
            Markup('<a href="%s" target="_blank" rel="noopener noreferrer">%s</a>') % (match.group(0), match.group(0))
        )
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


def attachments(message: EmailMessage) -> list[Attachment]:
    """Return the message's attachments in order."""
    found = []
    for index, part in enumerate(_attachment_parts(message)):
        payload = part.get_payload(decode=True) or b""
        found.append(Attachment(index, _name(part, index), content_type(part), len(payload)))
    return found


def attachment(raw: bytes, index: int) -> tuple[Attachment, bytes] | None:
    """Return the attachment at this index and its bytes."""
    for position, part in enumerate(_attachment_parts(read(raw))):
        if position == index:
            payload = part.get_payload(decode=True) or b""
            return Attachment(index, _name(part, index), content_type(part), len(payload)), payload
    return None


def inline_image(raw: bytes, content_id: str) -> tuple[str, bytes] | None:
    """Return the type and bytes of the image part with this Content-ID, if it is one a browser shows safely."""
    wanted = content_id.strip().strip("<>")
    for part in read(raw).walk():
        if part.is_multipart():
            continue
        if (part.get("Content-ID") or "").strip().strip("<>") == wanted:
            kind = content_type(part)
            if kind in INLINE_IMAGE_TYPES:
                return kind, part.get_payload(decode=True) or b""
            return None
    return None


def content_type(part: EmailMessage) -> str:
    """Return the part's content type if it is well formed, else application/octet-stream."""
    kind = part.get_content_type().lower()
    return kind if _mime_type.match(kind) else "application/octet-stream"


def _attachment_parts(message: EmailMessage) -> list[EmailMessage]:
    try:
        return list(message.iter_attachments()) if message.is_multipart() else []
    except Exception:  # noqa: BLE001  (a broken MIME tree shows no attachments, not an error)
        return []


def _name(part: EmailMessage, index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001  (a malformed parameter)
        name = None
    # A name is only a name: no folders, no control characters.
    cleaned = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name or "").strip()
    return cleaned or f"attachment-{index + 1}"


def _body(message: EmailMessage, subtype: str) -> str | None:
    try:
        part = message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else None
    except Exception:  # noqa: BLE001  (an unknown charset or a broken encoding)
        try:
            payload = part.get_payload(decode=True) if part is not None else None
        except Exception:  # noqa: BLE001
            return None
        return payload.decode("utf-8", "replace") if payload else None
