"""Measure the mail store's cost per message: parsing alone, and add_messages on SQLite.

Not a test: a measurement to run by hand, on a realistic mix of about 40 KB on average (plain,
HTML, multipart/alternative, 12 % with a ~200 KB base64 attachment, non-ASCII headers, broken
MIME, Exchange-like Received and X- headers), CRLF line ends as IMAP delivers them.

    .venv/bin/python -m tests.mailstore.measure [messages [directory for the database]]
"""

import base64
import hashlib
import logging
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32, default

import flask_migrate

from oroflask import create_app
from oroflask.auth.models import User
from oroflask.extensions import db
from oroflask.mailboxes.models import PERSONAL, Mailbox
from oroflask.mailstore import parse, store

SEED = 20261202
START = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
PEOPLE = ["Adèle Vance", "Zoë Müller", "François Dubois", "Jürgen Weiß", "Иван Петров", "山田 太郎",
          "Alex Wilber", "Megan Bowen", "Lee Gu", "Patti Fernandez"]
TOPICS = ["Quarterly figures", "Rendez-vous à Genève", "Angebot für Straßenbau", "Budget review",
          "Ёлка и праздник", "東京 出張", "Team lunch", "Support ticket"]
WORDS = ("the of and to in is that for it as was with be by on not this are from at which mailbox "
         "server message folder invoice meeting quarter budget report déjà vu café naïve über straße").split()


@dataclass(frozen=True)
class Fetched:
    uid: int
    flags: tuple[str, ...]
    internaldate: datetime
    size: int
    raw: bytes


def generate(count: int) -> list[bytes]:
    """Return `count` raw messages, the same each run."""
    chance = random.Random(SEED)
    paragraphs = [" ".join(chance.choices(WORDS, k=chance.randrange(40, 160))).capitalize() + "." for _ in range(300)]
    raws = []
    for number in range(count):
        sender, recipient = chance.sample(PEOPLE, 2)
        subject = chance.choice(TOPICS) + f" #{number}"
        headers = [f"Received: from EX{n}.contoso.com (10.0.0.{n}) by EX{n + 1}.contoso.com with "
                   f"Microsoft SMTP Server id 15.20.{number}.{n}; Tue, 1 Dec 2026 10:0{n}:00 +0000" for n in range(4)]
        headers += [
            f"From: {Header(sender, 'utf-8').encode()} <p{number % 50}@contoso.com>",
            f"To: {Header(recipient, 'utf-8').encode()} <adele@contoso.com>, team@contoso.com",
            f"Subject: {('Re: ' if number % 3 else '')}{Header(subject, 'utf-8').encode()}",
            f"Date: {(START + timedelta(minutes=number)).strftime('%a, %d %b %Y %H:%M:%S +0000')}",
            f"Message-ID: <{number:06d}.{SEED}@contoso.com>",
            "X-MS-Exchange-Organization-SCL: -1",
            "X-MS-Has-Attach: " + ("yes" if number % 8 == 0 else ""),
            "X-MS-Exchange-Organization-AuthAs: Internal",
            "Thread-Topic: " + subject,
            "Content-Language: en-US",
            "MIME-Version: 1.0",
        ]
        if number % 3:
            headers.append(f"In-Reply-To: <{number - 1:06d}.{SEED}@contoso.com>")
            headers.append(f"References: <{max(number - 5, 0):06d}.{SEED}@contoso.com>\r\n <{number - 1:06d}.{SEED}@contoso.com>")
        size = int(min(120_000, max(400, chance.lognormvariate(9.1, 0.85))))
        text = ""
        while len(text) < size:
            text += chance.choice(paragraphs) + "\r\n\r\n"
        html = "<html><head><style>p{margin:0}</style></head><body>" + "".join(
            f"<p>{paragraph}</p>\r\n" for paragraph in text.split("\r\n\r\n")) + "</body></html>"
        kind = chance.random()
        if kind < 0.03:  # broken: multipart without a boundary
            body = "Content-Type: multipart/mixed\r\n\r\n" + text
        elif kind < 0.40:
            body = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text
        elif kind < 0.55:
            body = "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + html
        else:
            body = (f'Content-Type: multipart/alternative; boundary="alt{number}"\r\n\r\n--alt{number}\r\n'
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                    + text.replace("é", "=C3=A9") + f"\r\n--alt{number}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                    + html + f"\r\n--alt{number}--\r\n")
        if chance.random() < 0.12:
            payload = base64.encodebytes(chance.randbytes(chance.randrange(115_000, 190_000))).decode()
            body = (f'Content-Type: multipart/mixed; boundary="mix{number}"\r\n\r\n--mix{number}\r\n' + body
                    + f"\r\n--mix{number}\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
                    "Content-Disposition: attachment; filename*=utf-8''Bericht%20%C3%BCber%20Q4.pdf\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n" + payload.replace("\n", "\r\n") + f"--mix{number}--\r\n")
        raws.append(("\r\n".join(headers) + "\r\n" + body).encode())
    return raws


REPS = 3


def per_message(seconds: tuple[float, float], count: int) -> str:
    wall, cpu = seconds
    return f"{wall / count * 1e6:7.1f} µs/message wall, {cpu / count * 1e6:7.1f} µs CPU"


def best_of(runs: int, work, setup=lambda: None) -> tuple[float, float]:
    """Return the least wall and CPU time of `runs` runs (the machine is shared: noise only adds)."""
    walls, cpus = [], []
    for _ in range(runs):
        argument = setup()
        wall, cpu = time.perf_counter(), time.process_time()
        work(argument)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def stdlib_walk(policy):
    parser = BytesParser(policy=policy)

    def walk(raw: bytes) -> None:
        message: Message = parser.parsebytes(raw)
        for part in message.walk():
            part.get_filename()
    return walk


def new_mailbox(number: int) -> int:
    owner = User(email=f"measure{number}@example.com", role="user", password_hash="x")
    db.session.add(owner)
    db.session.flush()
    mailbox = Mailbox(kind=PERSONAL, owner_id=owner.id, address=f"adele{number}@contoso.com", label="Adele")
    db.session.add(mailbox)
    db.session.commit()
    return mailbox.id


def main(count: int, directory: str | None) -> None:
    raws = generate(count)
    sizes = [len(raw) for raw in raws]
    print(f"{count} messages, mean {statistics.fmean(sizes) / 1000:.1f} KB, "
          f"median {statistics.median(sizes) / 1000:.1f} KB, largest {max(sizes) / 1000:.1f} KB")
    sample = raws[: min(count, 500)]
    for name, work in (
        ("stdlib email, compat32, whole message", stdlib_walk(compat32)),
        ("stdlib email, default policy, whole message", stdlib_walk(default)),
    ):
        print(f"{name:48} {per_message(best_of(1, lambda _: [work(raw) for raw in sample]), len(sample))}")
    print(f"{'parse.index':48} {per_message(best_of(REPS, lambda _: [parse.index(raw) for raw in raws]), count)}")
    print(f"{'sha256 of the raw message (inside add_messages)':48} "
          f"{per_message(best_of(REPS, lambda _: [hashlib.sha256(raw).digest() for raw in raws]), count)}")

    with tempfile.TemporaryDirectory(dir=directory) as instance:
        app = create_app({"TESTING": True, "INSTANCE_PATH": instance, "SECRET_KEY": "measure",
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/measure.sqlite"})
        with app.app_context():
            logging.disable(logging.INFO)
            flask_migrate.upgrade()
            fetched = [Fetched(uid, ("\\Seen",) if uid % 2 else (), START + timedelta(minutes=uid), len(raw), raw)
                       for uid, raw in enumerate(raws, start=1)]
            mailboxes = iter(range(REPS))

            def empty_inbox():
                return store.folder(new_mailbox(next(mailboxes)), "INBOX")

            def add_all(inbox):
                for start in range(0, count, 200):
                    store.add_messages(inbox, fetched[start : start + 200])
                    db.session.commit()

            print(f"{'add_messages (SQLite, 200 a batch, commit each)':48} "
                  f"{per_message(best_of(REPS, add_all, empty_inbox), count)}")
            inbox = store.folder(new_mailbox(REPS), "INBOX")
            add_all(inbox)
            print(f"{'add_messages again (all already stored)':48} {per_message(best_of(REPS, add_all, lambda: inbox), count)}")

            def flags(_):
                store.set_flags(inbox, {message.uid: ("\\Seen", "\\Flagged") for message in fetched})
                db.session.rollback()

            print(f"{'set_flags (every message changes)':48} {per_message(best_of(REPS, flags), count)}")
            db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, sys.argv[2] if len(sys.argv) > 2 else None)
