"""Full-text search of stored mail with the database's own engine: SQLite FTS5 or PostgreSQL tsvector.

Both index the same words: text is cut into runs of letters and digits here, lowercased, so
the two engines see plain words and a user's query means the same on both. The index is
filled after the sync has stored a batch (`index_pending`), outside its hot path; a message's row
leaves with the message (PostgreSQL: its foreign key; SQLite: a trigger, migration 0016).
"""

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, column, func, literal_column, select, table, text

from ..extensions import db
from . import parse
from .models import Message, MessageContent

# Body text indexed per message: a long newsletter is found by its first pages.
BODY_LIMIT = 64 * 1024
# Messages read and indexed per statement.
BATCH = 200
_word = re.compile(r"[^\W_]+")
# A term of a query: an optional field, then a "quoted phrase" or a word.
_term = re.compile(r'(?:(\w+):)?(?:"([^"]*)"?|(\S+))')
FIELDS = {"subject": "subject", "from": "sender", "to": "recipients", "cc": "recipients"}
# PostgreSQL keeps one document; each part is weighted so that a field filter picks its words.
WEIGHTS = {"subject": "A", "sender": "B", "recipients": "C", "body": "D"}

sqlite_index = table("message_search", column("rowid"), column("subject"), column("sender"),
                     column("recipients"), column("body"))
postgresql_index = table("message_search", column("message_id"), column("document"))


@dataclass(frozen=True)
class Term:
    """Words that must appear in this order (one word: as a prefix), in one field or any."""

    words: tuple[str, ...]
    field: str | None = None
    phrase: bool = False


def words(value: str) -> list[str]:
    """Return the words of a text as both engines index them."""
    return _word.findall(value.casefold())


def parse_query(query: str) -> list[Term]:
    """Turn what a user typed into terms; stray quotes and operators are only text."""
    terms = []
    for match in _term.finditer(query):
        field, phrase, word = match.groups()
        if field and field.casefold() not in FIELDS:
            # "re:budget" is two words, not a field.
            word, phrase, field = f"{field}:{word if word is not None else phrase}", None, None
        found = tuple(words(phrase if phrase is not None else word or ""))
        if not found:
            continue
        name = FIELDS[field.casefold()] if field else None
        if phrase is not None or len(found) == 1:
            terms.append(Term(found, name, phrase is not None and len(found) > 1))
        else:
            # "alex@contoso.com" is one run of words, as the index cut it.
            terms.append(Term(found, name, True))
    return terms


def matches(terms: list[Term]) -> ColumnElement[bool]:
    """Return the condition on Message.id that these terms (all of them) select."""
    if db.engine.dialect.name == "sqlite":
        expression = " AND ".join(_fts5(term) for term in terms)
        found = select(literal_column("rowid")).select_from(sqlite_index).where(
            text("message_search MATCH :expression").bindparams(expression=expression)
        )
    else:
        query = " & ".join(_tsquery(term) for term in terms)
        # Written into the statement (quoted by the driver's rules), not sent as a parameter: a
        # prepared statement's generic plan cannot tell how many messages a query finds, and then
        # joined every match before sorting (a phrase: 110 ms instead of 30 on 10,000 messages).
        tsquery = bindparam("tsquery", query, literal_execute=True)
        found = select(postgresql_index.c.message_id).where(
            postgresql_index.c.document.op("@@")(func.to_tsquery("simple", tsquery))
        )
    return Message.id.in_(found)


def _fts5(term: Term) -> str:
    # Words are letters and digits only: quoted, they are never FTS5 syntax.
    quoted = '"' + " ".join(term.words) + '"'
    if not term.phrase:
        quoted += "*"
    return f"{{{term.field}}} : {quoted}" if term.field else quoted


def _tsquery(term: Term) -> str:
    weight = WEIGHTS[term.field] if term.field else ""
    if term.phrase:
        return "(" + " <-> ".join(f"{word}:{weight}" if weight else word for word in term.words) + ")"
    return f"{term.words[0]}:*{weight}"


def index_pending(limit: int | None = None) -> int:
    """Index the stored messages that are not indexed yet; return how many were indexed."""
    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        indexed = select(literal_column("rowid")).select_from(sqlite_index)
    else:
        indexed = select(postgresql_index.c.message_id)
    done = 0
    while limit is None or done < limit:
        rows = db.session.execute(
            select(
                Message.id, Message.subject, Message.from_name, Message.from_address,
                Message.to_text, Message.cc_text, MessageContent.raw,
            )
            .join(MessageContent, MessageContent.id == Message.content_id)
            .where(Message.id.not_in(indexed))
            .order_by(Message.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        documents = [
            {
                "id": row.id,
                "subject": " ".join(words(row.subject)),
                "sender": " ".join(words(f"{row.from_name} {row.from_address}")),
                "recipients": " ".join(words(f"{row.to_text} {row.cc_text}")),
                "body": " ".join(words(body_text(row.raw))),
            }
            for row in rows
        ]
        if sqlite:
            db.session.execute(
                text(
                    "INSERT INTO message_search (rowid, subject, sender, recipients, body) "
                    "VALUES (:id, :subject, :sender, :recipients, :body)"
                ),
                documents,
            )
        else:
            weighted = " || ".join(
                f"setweight(to_tsvector('simple', :{name}), '{weight}')" for name, weight in WEIGHTS.items()
            )
            db.session.execute(
                text(f"INSERT INTO message_search (message_id, document) VALUES (:id, {weighted}) "
                     "ON CONFLICT (message_id) DO NOTHING"),
                documents,
            )
        db.session.commit()
        done += len(rows)
    db.session.commit()
    return done


def body_text(raw: bytes) -> str:
    """Return the text a reader sees of a message: its plain part, else its HTML part as text."""
    try:
        head_end, body_start = parse._split_head(raw, 0, len(raw))
        body = parse._Body(raw)
        body.read(parse._parse_headers(raw[:head_end]), body_start, len(raw), depth=0)
        if body.plain is not None:
            start, end, encoding, charset = body.plain
            found = parse._text(raw[start : min(end, start + BODY_LIMIT)], encoding, charset)
            if found.strip():
                return found
        if body.html is not None:
            start, end, encoding, charset = body.html
            reader = parse._TextOfHTML()
            reader.feed(parse._text(raw[start : min(end, start + 4 * BODY_LIMIT)], encoding, charset))
            return " ".join(reader.chunks)[:BODY_LIMIT]
    except Exception:  # noqa: BLE001  (an unreadable message is still found by its headers)
        return ""
    return ""
