"""The parser: what lists, threads and search need from each kind of message, and no exception
from any message, however broken."""

import base64
import os
from datetime import datetime, timezone

import pytest

from oroflask.mailstore.parse import index, normalised_message_id, normalised_subject

HEADERS = (
    "From: Alex Wilber <alex@contoso.com>\r\n"
    "To: Adele Vance <adele@contoso.com>, lee@contoso.com\r\n"
    "Cc: \"Wilber, Alex\" <Alex@Contoso.com>\r\n"
    "Subject: Quarterly figures\r\n"
    "Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n"
    "Message-ID: <figures-1@contoso.com>\r\n"
    "MIME-Version: 1.0\r\n"
)


def message(content_type: str, body: str, headers: str = HEADERS, extra: str = "") -> bytes:
    return (f"{headers}Content-Type: {content_type}\r\n{extra}\r\n{body}").encode()


def test_a_plain_message():
    found = index(message("text/plain; charset=utf-8", "Hello Adele,\r\n\r\n  here   are the figures.\r\n"))

    assert found.message_id == "<figures-1@contoso.com>"
    assert found.subject == "Quarterly figures"
    assert found.date == datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert (found.from_name, found.from_address) == ("Alex Wilber", "alex@contoso.com")
    assert found.to_text == "Adele Vance <adele@contoso.com>, lee@contoso.com"
    assert found.to_addresses == ("adele@contoso.com", "lee@contoso.com")
    assert found.cc_text == '"Wilber, Alex" <alex@contoso.com>'
    assert found.cc_addresses == ("alex@contoso.com",)
    assert found.snippet == "Hello Adele, here are the figures."
    assert (found.has_attachments, found.attachment_names, found.parse_error) == (False, (), None)


def test_an_html_message_gives_its_text_without_head_styles_or_scripts():
    html = (
        "<html><head><title>Newsletter</title><style>p { color: red }</style></head>"
        "<body><script>alert(1)</script><p>Caf&eacute; opens&nbsp;at <b>nine</b>.</p><p>Welcome!</p></body></html>"
    )
    found = index(message("text/html; charset=utf-8", html))

    assert found.snippet == "Café opens at nine. Welcome!"


@pytest.mark.parametrize(
    ("html", "snippet"),
    [
        ("<p>The report is <b>done</b>.</p>", "The report is done."),
        ('<span>Hi</span>, <a href="https://contoso.com">Lee</a>!', "Hi, Lee!"),
        ("<b>bold</b> <i>italic</i>", "bold italic"),
        ("<p>a</p><p>b</p>", "a b"),
        ("<div>first</div><div>second</div>", "first second"),
        ("line<br>next", "line next"),
        ("<table><tr><td>1</td><td>2</td></tr></table>", "1 2"),
        ("<ul><li>one</li><li>two</li></ul>", "one two"),
        ("<h1>Title</h1>Text", "Title Text"),
    ],
)
def test_inline_elements_join_their_text_and_blocks_separate_words(html, snippet):
    found = index(message("text/html; charset=utf-8", f"<html><body>{html}</body></html>"))

    assert found.snippet == snippet


def test_multipart_alternative_takes_the_plain_part():
    body = (
        "--alt\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Gr=FC=DFe aus K=F6ln\r\n"
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML version</p>\r\n--alt--\r\n"
    )
    found = index(message('multipart/alternative; boundary="alt"', body))

    assert found.snippet == "Grüße aus Köln"
    assert found.has_attachments is False


def test_an_html_only_alternative_and_a_long_text_is_cut_near_200_characters():
    words = " ".join(f"word{n}" for n in range(200))
    body = (
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(f"<div>{words}</div>".encode()).decode().replace("\n", "\r\n")
        + "--alt--\r\n"
    )
    found = index(message('multipart/alternative; boundary="alt"', body))

    assert found.snippet.startswith("word0 word1 word2")
    assert 150 < len(found.snippet) <= 201 and found.snippet.endswith("…")


def attachment_message(payload: bytes, disposition: str) -> bytes:
    encoded = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    body = (
        "--mixed\r\n"
        "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
        "--alt\r\nContent-Type: text/plain\r\n\r\nSee the attached report.\r\n"
        "--alt\r\nContent-Type: text/html\r\n\r\n<p>See the attached report.</p>\r\n--alt--\r\n"
        "--mixed\r\n"
        "Content-Type: application/pdf; name=\"ignored.pdf\"\r\n"
        f"Content-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{encoded}"
        "--mixed\r\n"
        "Content-Type: image/png\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-ID: <logo>\r\n\r\n"
        "iVBORw0KGgo=\r\n"
        "--mixed--\r\n"
    )
    return message('multipart/mixed; boundary="mixed"', body)


def test_a_200_kb_attachment_is_named_and_an_inline_image_is_not_an_attachment():
    found = index(attachment_message(os.urandom(200 * 1024), 'attachment; filename="Q4 report.pdf"'))

    assert found.attachment_names == ("Q4 report.pdf",)
    assert found.has_attachments is True
    assert found.snippet == "See the attached report."
    assert found.parse_error is None


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        ("attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe%20aus%20K%C3%B6ln.pdf", "Grüße aus Köln.pdf"),
        ("attachment; filename*0*=utf-8''Bericht%20; filename*1=\"Q4.pdf\"", "Bericht Q4.pdf"),
        ('attachment; filename="=?utf-8?B?w5xiZXJzaWNodC5wZGY=?="', "Übersicht.pdf"),
        ("attachment", "ignored.pdf"),
    ],
)
def test_attachment_names_in_rfc_2231_rfc_2047_or_from_the_content_type(disposition, name):
    found = index(attachment_message(b"%PDF-1.7", disposition))

    assert found.attachment_names == (name,)


def test_non_ascii_headers_encoded_or_raw():
    headers = (
        "From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@contoso.de>\r\n"
        "To: =?utf-8?b?RnLDqWTDqXJpYw==?= <frederic@contoso.fr>\r\n"
        "Subject: AW: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus =?utf-8?q?K=C3=B6ln?=\r\n"
        "Message-ID: <koeln@contoso.de>\r\n"
    )
    found = index(message("text/plain; charset=utf-8", "Hallo", headers=headers))
    assert (found.from_name, found.subject) == ("Jörg Müller", "AW: Grüße aus Köln")
    assert found.to_text == "Frédéric <frederic@contoso.fr>"

    raw = "From: Zoë Ørsted <zoe@contoso.dk>\r\nSubject: Smørrebrød på fredag\r\n\r\nHej\r\n".encode()
    found = index(raw)
    assert (found.from_name, found.subject, found.snippet) == ("Zoë Ørsted", "Smørrebrød på fredag", "Hej")


def test_an_unknown_charset_is_read_as_utf_8_with_replacements():
    body = "Prix: 10 €".encode("utf-8") + b" \xff"
    found = index(HEADERS.encode() + b"Content-Type: text/plain; charset=x-unknown-42\r\n\r\n" + body)

    assert found.snippet == "Prix: 10 € \ufffd"
    assert found.parse_error is None


def test_a_multipart_without_its_boundary_is_kept_with_an_error():
    found = index(message("multipart/mixed", "Some text that has no parts.\r\n"))

    assert found.parse_error == "multipart/mixed without a boundary"
    assert found.subject == "Quarterly figures"
    assert found.snippet == "Some text that has no parts."

    found = index(message('multipart/mixed; boundary="gone"', "--other\r\nNo delimiter of ours.\r\n"))
    assert found.parse_error == "multipart/mixed boundary not found"
    assert found.message_id == "<figures-1@contoso.com>"


def test_a_message_cut_short_keeps_its_last_part():
    body = "--mixed\r\nContent-Type: text/plain\r\n\r\nFirst part\r\n--mixed\r\nContent-Type: application/zip; name=\"data.zip\"\r\n\r\nUEsDBBQ"
    found = index(message('multipart/mixed; boundary="mixed"', body))

    assert (found.snippet, found.attachment_names) == ("First part", ("data.zip",))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n", "empty message"),
        (bytes(range(256)) * 40, None),
        (os.urandom(5000), None),
        (b"\x00\x01\x02 not a message at all \xff\xfe", None),
    ],
)
def test_garbage_and_empty_messages_never_raise(raw, error):
    found = index(raw)

    if error:
        assert found.parse_error == error
    assert isinstance(found.snippet, str) and len(found.snippet) <= 201


def test_a_message_with_only_headers():
    found = index(HEADERS.encode())

    assert (found.subject, found.snippet, found.parse_error) == ("Quarterly figures", "", None)


def test_a_10_mb_message_is_indexed_without_decoding_its_attachment():
    found = index(attachment_message(b"\x00" * (10 * 1024 * 1024), 'attachment; filename="disk.img"'))

    assert found.attachment_names == ("disk.img",)
    assert found.snippet == "See the attached report."


def test_bad_dates_and_addresses_leave_the_rest():
    headers = "From: <<<>>>@@\r\nTo: ,,,\r\nDate: Someday soon\r\nSubject: Still here\r\nMessage-ID: no-brackets@contoso.com\r\n"
    found = index(message("text/plain", "Body", headers=headers))

    assert (found.date, found.subject, found.snippet) == (None, "Still here", "Body")
    assert found.message_id == "<no-brackets@contoso.com>"


def test_references_and_in_reply_to_give_the_ancestors():
    headers = HEADERS + "In-Reply-To: <b@x> (Alex's message)\r\nReferences: <a@x>\r\n  <b@x>\r\n"
    found = index(message("text/plain", "Reply", headers=headers))

    assert found.in_reply_to == "<b@x>"
    assert found.references == ("<a@x>", "<b@x>")


def test_subjects_and_message_ids_are_normalised():
    assert normalised_subject("Re: AW: Fwd:  Quarterly   figures") == ("Quarterly figures", True)
    assert normalised_subject("RE[2]: SV: Budget") == ("Budget", True)
    assert normalised_subject("Reports for Q4") == ("Reports for Q4", False)
    assert normalised_message_id("  <abc@x> ") == "<abc@x>"
    assert normalised_message_id("abc@x") == "<abc@x>"
    assert normalised_message_id(None) is None


def test_nul_and_control_characters_do_not_reach_the_index():
    raw = b"From: Alex\x00 <alex@contoso.com>\r\nSubject: Hel\x00lo\r\n\r\nBody\x00with\x07controls\r\n"
    found = index(raw)

    assert (found.subject, found.from_name, found.snippet) == ("Hello", "Alex", "Body with controls")


def test_charsets_that_are_not_text_encodings_and_latin_1_raw_headers():
    raw = (
        b"From: =?base64?q?Alex?= <alex@contoso.com>\r\nSubject: Caf\xe9 \xe0 Gen\xe8ve\r\n"
        b"Content-Type: text/plain; charset=rot13\r\n\r\nUryyb\r\n"
    )
    found = index(raw)

    assert (found.from_name, found.subject, found.snippet, found.parse_error) == ("Alex", "Café à Genève", "Uryyb", None)


def test_a_calendar_part_is_not_the_snippet():
    body = (
        "--mixed\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\n"
        "--mixed\r\nContent-Type: text/html\r\n\r\n<p>Team lunch on Friday</p>\r\n--mixed--\r\n"
    )
    assert index(message('multipart/alternative; boundary="mixed"', body)).snippet == "Team lunch on Friday"


def test_nul_hidden_in_encoded_words_and_rfc_2231_names_is_dropped():
    headers = HEADERS.replace("Subject: Quarterly figures", "Subject: =?utf-8?q?Quarterly=00_figures?=")
    found = index(attachment_message(b"%PDF", "attachment; filename*=utf-8''Q4%00.pdf").replace(HEADERS.encode(), headers.encode()))

    assert (found.subject, found.attachment_names) == ("Quarterly figures", ("Q4.pdf",))


def test_an_inline_named_text_part_is_the_body_and_an_inline_pdf_an_attachment():
    body = (
        "--mixed\r\nContent-Type: text/plain\r\nContent-Disposition: inline;\r\n\tfilename=\"msg.txt\"\r\n\r\n"
        "A simple kind of mirror\r\n"
        "--mixed\r\nContent-Type: application/pdf\r\nContent-Disposition: inline; filename=\"scan.pdf\"\r\n\r\n%PDF\r\n"
        "--mixed--\r\n"
    )
    found = index(message('multipart/mixed; boundary="mixed"', body))

    assert (found.snippet, found.attachment_names) == ("A simple kind of mirror", ("scan.pdf",))
