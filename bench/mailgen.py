"""A deterministic mailbox of realistic messages for the sync benchmark.

`messages(count, seed)` yields the same raw messages (bytes, LF line ends as Dovecot stores them)
for the same count and seed: plain text, HTML, and multipart/alternative, about 12 % with a
~200 KB base64 attachment, non-ASCII names and subjects (RFC 2047), replies that continue earlier
threads (In-Reply-To, References), dates spread over six months. Sizes follow a log-normal body
plus the attachments: about 40 KB on average, median about 13 KB, 90th percentile about 190 KB.

    .venv/bin/python bench/mailgen.py 10000     # print the size statistics of a mailbox
"""

import base64
import math
import random
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime

SEED = 20261202
DOMAIN = "bench.example"
START = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
SPAN = timedelta(days=183)
ATTACHMENT_SHARE = 0.12
REPLY_SHARE = 0.35
# Text bodies: log-normal around 7 KB (twice that in multipart/alternative), so that with the
# attachments the median is ~13 KB.
BODY_MEDIAN = 7_000
BODY_SIGMA = 0.85
BODY_MIN, BODY_MAX = 400, 120_000
# Raw attachment bytes; base64 makes them a third larger (150 to 255 KB in the message).
ATTACHMENT_MIN, ATTACHMENT_MAX = 115_000, 190_000

PEOPLE = [
    ("Adèle Vance", "adele"), ("Zoë Müller", "zoe"), ("François Dubois", "francois"),
    ("Jürgen Weiß", "juergen"), ("Søren Kierkegård", "soren"), ("María José Núñez", "mariajose"),
    ("Łukasz Wróbel", "lukasz"), ("Ελένη Παπαδοπούλου", "eleni"), ("Иван Петров", "ivan"),
    ("山田 太郎", "yamada"), ("Alex Wilber", "alex"), ("Megan Bowen", "megan"),
    ("Diego Siciliani", "diego"), ("Lee Gu", "lee"), ("Nestor Wilke", "nestor"),
    ("Patti Fernandez", "patti"),
]
TOPICS = [
    "Quarterly figures", "Rendez-vous à Genève", "Angebot für Straßenbau", "Café meeting",
    "Réunion du comité", "Invoice 2026-0412", "Ёлка и праздник", "Projekt Übersicht",
    "Release notes", "Travel to Kraków", "Öffnungszeiten", "Budget review", "Server migration",
    "Contract renewal", "Łódź office move", "東京 出張", "Team lunch", "Support ticket",
]
WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no will "
    "mailbox server message folder invoice meeting quarter budget report project customer order "
    "déjà vu café naïve résumé über straße größe año señor œuvre façade smörgåsbord"
).split()
ATTACHMENT_NAMES = ["report.pdf", "Präsentation.pptx", "photo.jpg", "contrat signé.pdf", "data.xlsx"]


@dataclass(frozen=True)
class Generated:
    """One message: its Message-ID, date, and raw bytes."""

    message_id: str
    date: datetime
    raw: bytes


def messages(count: int, seed: int = SEED) -> Iterator[Generated]:
    """Yield `count` messages, the same ones for the same count and seed, oldest first."""
    chance = random.Random(seed)
    paragraphs = _paragraphs(random.Random(seed + 1))
    step = SPAN / max(count, 1)
    earlier: list[tuple[str, str, str]] = []  # (message id, references, subject) of past messages
    for number in range(count):
        date = START + step * number + timedelta(seconds=chance.randrange(int(step.total_seconds()) or 1))
        sender, recipient = chance.sample(PEOPLE, 2)
        message_id = f"<{number:06d}.{seed}@{DOMAIN}>"
        headers = [
            ("From", _address(sender)),
            ("To", _address(recipient)),
            ("Date", format_datetime(date)),
            ("Message-ID", message_id),
        ]
        if chance.random() < 0.3:
            headers.append(("Cc", _address(chance.choice(PEOPLE))))
        if earlier and chance.random() < REPLY_SHARE:
            # Mostly recent threads: how far back the parent is falls off exponentially.
            back = min(int(chance.expovariate(0.05)), len(earlier) - 1)
            parent_id, parent_references, parent_subject = earlier[-1 - back]
            references = f"{parent_references} {parent_id}".strip()
            subject = parent_subject if parent_subject.startswith("Re: ") else f"Re: {parent_subject}"
            headers += [("In-Reply-To", parent_id), ("References", _fold(references))]
        else:
            references = ""
            subject = f"{chance.choice(TOPICS)} #{number}"
        headers.append(("Subject", Header(subject, "utf-8").encode() if not subject.isascii() else subject))
        earlier.append((message_id, references, subject))
        text = _text(chance, paragraphs)
        kind = chance.random()
        body = _plain(text) if kind < 0.40 else _html(text) if kind < 0.55 else _alternative(text, number)
        if chance.random() < ATTACHMENT_SHARE:
            body = _with_attachment(chance, body, number)
        head = "".join(f"{name}: {value}\n" for name, value in headers) + "MIME-Version: 1.0\n"
        yield Generated(message_id.strip("<>"), date, head.encode() + body)


def _address(person: tuple[str, str]) -> str:
    name, local = person
    shown = name if name.isascii() else Header(name, "utf-8").encode()
    return f"{shown} <{local}@{DOMAIN}>"


def _fold(references: str) -> str:
    ids = references.split()[-12:]  # long threads keep the first and the latest, as mail clients do
    return "\n ".join(ids)


def _paragraphs(chance: random.Random) -> list[str]:
    # A pool of paragraphs drawn once: picking from it is fast, and the text still looks like prose.
    pool = []
    for _ in range(400):
        words = chance.choices(WORDS, k=chance.randrange(40, 160))
        lines, line = [], []
        for word in words:
            line.append(word)
            if sum(len(w) + 1 for w in line) > 70:
                lines.append(" ".join(line))
                line = []
        lines.append(" ".join(line) + ".")
        pool.append("\n".join(lines).capitalize())
    return pool


def _text(chance: random.Random, paragraphs: list[str]) -> str:
    size = int(min(BODY_MAX, max(BODY_MIN, chance.lognormvariate(math.log(BODY_MEDIAN), BODY_SIGMA))))
    parts, length = [], 0
    while length < size:
        paragraph = chance.choice(paragraphs)
        parts.append(paragraph)
        length += len(paragraph) + 2
    return "\n\n".join(parts)


def _plain(text: str) -> bytes:
    return b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text.encode() + b"\n"


def _html(text: str) -> bytes:
    paragraphs = "".join(f"<p>{paragraph}</p>\n" for paragraph in text.split("\n\n"))
    page = f"<html><body style=\"font-family: sans-serif\">\n{paragraphs}</body></html>\n"
    return b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + page.encode()


def _alternative(text: str, number: int) -> bytes:
    boundary = f"alt-{number:06d}"
    return (
        f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\n\n--{boundary}\n".encode()
        + _plain(text)
        + f"\n--{boundary}\n".encode()
        + _html(text)
        + f"\n--{boundary}--\n".encode()
    )


def _with_attachment(chance: random.Random, body: bytes, number: int) -> bytes:
    boundary = f"mix-{number:06d}"
    name = chance.choice(ATTACHMENT_NAMES)
    shown = name if name.isascii() else Header(name, "utf-8").encode()
    content = base64.encodebytes(chance.randbytes(chance.randrange(ATTACHMENT_MIN, ATTACHMENT_MAX)))
    return (
        f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n--{boundary}\n".encode()
        + body
        + f"\n--{boundary}\nContent-Type: application/octet-stream; name=\"{shown}\"\n"
        f"Content-Disposition: attachment; filename=\"{shown}\"\nContent-Transfer-Encoding: base64\n\n".encode()
        + content
        + f"\n--{boundary}--\n".encode()
    )


def describe(count: int, seed: int = SEED) -> str:
    """Return a line of size statistics (as IMAP counts them, CRLF line ends) of a generated mailbox."""
    sizes = sorted(len(message.raw) + message.raw.count(b"\n") for message in messages(count, seed))
    quantile = statistics.quantiles(sizes, n=10)
    return (
        f"{count} messages, {sum(sizes) / 1e6:.1f} MB: mean {statistics.fmean(sizes) / 1000:.1f} KB, "
        f"p50 {statistics.median(sizes) / 1000:.1f} KB, p90 {quantile[8] / 1000:.1f} KB, "
        f"largest {sizes[-1] / 1000:.1f} KB"
    )


if __name__ == "__main__":
    print(describe(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
