"""Search and open-conversation times on 10,000 stored messages, on SQLite and on PostgreSQL.

    .venv/bin/python bench/mail_search.py [--messages 10000]
        [--postgresql postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Generates messages (replies threaded into conversations, plain and HTML bodies, a few
attachments), stores them through the mail store as the sync does, fills the search index as the
worker does, then times the mail service's queries for a signed-in user: the first page of the
list, searches of several kinds, and opening a conversation (its messages read and rendered).
Each time is the median of several runs. PostgreSQL is measured in a scratch database made and
dropped on the server given (skipped when it cannot be reached). The goal: under 100 ms each.
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from oroflask import create_app  # noqa: E402
from oroflask.auth.access import SignedInUser  # noqa: E402
from oroflask.auth.models import User  # noqa: E402
from oroflask.extensions import db  # noqa: E402
from oroflask.mail import render, service  # noqa: E402
from oroflask.mailboxes.models import PERSONAL, Mailbox  # noqa: E402
from oroflask.mailstore import search, store  # noqa: E402
from oroflask.mailstore.models import Message  # noqa: E402

WORDS = (
    "budget report meeting invoice project alpha beta release contract schedule review design customer "
    "order shipment delay quarter revenue forecast team holiday lunch agenda minutes draft final approve "
    "question answer issue ticket support server backup network office travel hotel flight conference "
    "proposal offer price discount payment reminder update status launch marketing campaign newsletter"
).split()
PEOPLE = [("Alex Wilber", "alex"), ("Megan Bowen", "megan"), ("Lee Gu", "lee"), ("Nestor Wilke", "nestor"),
          ("Lynne Robbins", "lynne"), ("Diego Siciliani", "diego"), ("Isaiah Langer", "isaiah")]
SEARCHES = ["budget", "zeppelin", '"quarter revenue"', "from:megan", "subject:invoice", "to:lynne review", "rev"]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Fetched:
    """A generated message as the IMAP side hands it over."""

    def __init__(self, uid: int, raw: bytes, minutes: int):
        self.uid, self.raw, self.flags, self.size = uid, raw, ("\\Seen",) if uid % 3 else (), len(raw)
        self.internaldate = START + timedelta(minutes=minutes)


def generate(count: int, rng: random.Random) -> list[Fetched]:
    """Return `count` messages, about one in three a reply to an earlier one."""
    messages = []
    for uid in range(1, count + 1):
        name, user = rng.choice(PEOPLE)
        to_name, to_user = rng.choice(PEOPLE)
        subject = " ".join(rng.choices(WORDS, k=rng.randint(2, 6))).capitalize()
        sent = START + timedelta(minutes=uid)
        headers = [f"From: {name} <{user}@contoso.com>", f"To: {to_name} <{to_user}@contoso.com>",
                   f"Message-ID: <m{uid}@bench>", f"Date: {sent:%a, %d %b %Y %H:%M:%S +0000}"]
        if uid > 10 and rng.random() < 0.35:
            parent = rng.randint(1, uid - 1)
            headers += [f"In-Reply-To: <m{parent}@bench>", f"References: <m{parent}@bench>"]
            subject = "Re: " + messages[parent - 1].subject
        paragraphs = ["\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(6)) for _ in range(rng.randint(2, 8))]
        if uid == count // 2:
            paragraphs.append("The zeppelin arrives on Tuesday.")
        body = "\n\n".join(paragraphs)
        if uid % 4 == 0:
            html = "".join(f"<p style='color:#333'>{paragraph}</p>" for paragraph in paragraphs)
            headers += ["MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8"]
            body = f"<html><body>{html}<img src='https://tracker.example.net/p.png'></body></html>"
        else:
            headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
        raw = ("\r\n".join([*headers, f"Subject: {subject}", "", body, ""])).encode()
        fetched = Fetched(uid, raw, uid)
        fetched.subject = subject.removeprefix("Re: ")
        messages.append(fetched)
    return messages


def highlighted(user: SignedInUser, query: str) -> list:
    """Search, and highlight each result's snippet as the page does."""
    return [service.highlight(row.message.snippet, query) for row in service.find(user, query).rows]


def median_ms(action, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(database_url: str, instance: Path, count: int) -> dict[str, float]:
    app = create_app({
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "bench",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": database_url,
    })
    results: dict[str, float] = {}
    with app.app_context():
        flask_migrate.upgrade()
        owner = User(email="bench@example.com", role="user", password_hash="x")
        db.session.add(owner)
        db.session.flush()
        mailbox = Mailbox(kind=PERSONAL, owner_id=owner.id, address="adele@contoso.com", label="Adele")
        db.session.add(mailbox)
        db.session.commit()
        messages = generate(count, random.Random(13))
        folder = store.folder(mailbox.id, "INBOX")
        started = time.perf_counter()
        for start in range(0, count, 500):
            store.add_messages(folder, messages[start : start + 500])
            db.session.commit()
        results["store (sync's add_messages), ms/message"] = (time.perf_counter() - started) * 1000 / count
        started = time.perf_counter()
        search.index_pending()
        results["search index (worker), ms/message"] = (time.perf_counter() - started) * 1000 / count
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        user = SignedInUser(id=owner.id, email=owner.email, role=owner.role, session_id=0)
        results["list, first page"] = median_ms(lambda: service.conversations(user))
        first = service.conversations(user)
        results["list, second page"] = median_ms(lambda: service.conversations(user, after=first.after))
        for query in SEARCHES:
            found = service.find(user, query)
            hits = f"{len(found.rows)}{'+' if found.after else ''}"
            results[f"search {query} ({hits} hits)"] = median_ms(lambda query=query: highlighted(user, query))
        biggest = db.session.execute(
            select(Message.conversation_id)
            .group_by(Message.conversation_id)
            .order_by(db.func.count().desc())
            .limit(1)
        ).scalar_one()

        def open_conversation():
            messages = service.messages_of(service.conversation(user, biggest))
            for raw in service.raws(messages).values():
                render.show(raw)

        size = len(service.messages_of(service.conversation(user, biggest)))
        results[f"open the largest conversation ({size} messages)"] = median_ms(open_conversation)
        db.session.remove()
        db.engine.dispose()
    return results


def scratch_postgresql(server_url: str):
    """Return the URL of a new empty database on the server and a function that drops it, or None."""
    url = make_url(server_url)
    name = f"oroflask_mail_bench_{int(time.time())}"
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001  (no server: measured on SQLite only)
        print(f"PostgreSQL not measured: {type(error).__name__}: {str(error).splitlines()[0]}")
        return None

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    columns: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as instance:
        columns["SQLite"] = measure(f"sqlite:///{instance}/bench.sqlite", Path(instance), args.messages)
        scratch = scratch_postgresql(args.postgresql)
        if scratch is not None:
            url, drop = scratch
            try:
                columns["PostgreSQL"] = measure(url, Path(instance), args.messages)
            finally:
                drop()
    names = list(next(iter(columns.values())))
    width = max(len(name) for name in names)
    print(f"\n{args.messages:,} messages; times in ms (median of 7), goal < 100\n")
    print(f"| {'':{width}} | " + " | ".join(f"{name:>10}" for name in columns) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 12 for _ in columns) + "|")
    for name in names:
        cells = " | ".join(f"{columns[column].get(name, float('nan')):>10.2f}" for column in columns)
        print(f"| {name:{width}} | {cells} |")


if __name__ == "__main__":
    main()
