"""Database engine set-up: psycopg run on first use, SQLite pragmas, UTC timestamps and the migrations
(Flask-Migrate, loaded by `flask db ...` only)."""

import importlib.util
import sys
import threading
import types
from datetime import datetime, timezone
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import DateTime, event
from sqlalchemy.types import TypeDecorator

from .extensions import db

MIGRATIONS = Path(__file__).with_name("migrations")
# Huey's storage module imports psycopg (about 9 MB) whatever queue runs, for its PostgreSQL one:
# a process whose database and queue are not PostgreSQL never runs it.
LOADED_ON_FIRST_USE = ("psycopg",)
_first_use = threading.RLock()
_running: set[str] = set()
# The largest id an INTEGER column holds. A URL's <int(max=ID_MAX):...> finds no larger one, which
# no row has and the database would refuse as a parameter (an error, not "not found").
ID_MAX = 2**31 - 1


class _LoadedOnFirstUse(types.ModuleType):
    """A package that is imported but has not run: the first use of anything in it runs it, in place."""

    def __getattribute__(self, name: str):
        # An import statement reads __spec__ of a module already imported: that is not a use.
        if name != "__spec__":
            # Reentrant: the package's own imports come back here while it runs.
            with _first_use:
                spec = object.__getattribute__(self, "__spec__")
                if spec.name not in _running:
                    _running.add(spec.name)
                    spec.loader.exec_module(self)
                    self.__class__ = types.ModuleType
        return object.__getattribute__(self, name)


def load_on_first_use(name: str) -> None:
    """Let `import name` bind the package without running it, until something of it is used."""
    if name in sys.modules or (spec := importlib.util.find_spec(name)) is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _LoadedOnFirstUse
    sys.modules[name] = module


for _package in LOADED_ON_FIRST_USE:
    load_on_first_use(_package)


def init_app(app: Flask) -> None:
    """Turn on WAL, foreign keys and a busy timeout for every SQLite connection."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)


def init_migrations(app: Flask) -> None:
    """Register Flask-Migrate with the migrations folder: `flask db ...` and flask_migrate's API."""
    from flask_migrate import Migrate  # imports Alembic: only where migrations are wanted

    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True, render_item=render_item)


class _MigrationCommands(click.Command):
    """`flask db ...`: Flask-Migrate's command group, registered (and Alembic loaded) when it runs."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        app = current_app._get_current_object()
        if "migrate" not in app.extensions:
            init_migrations(app)
        from flask_migrate.cli import db as commands

        return commands.make_context(info_name, args, parent=parent, **extra)


migration_commands = _MigrationCommands("db", help="Perform database migrations (Flask-Migrate).")


# Tables no model describes, made by their own code: the mail search index (an FTS5 virtual table
# and its shadow tables on SQLite, a tsvector table on PostgreSQL, written per dialect by its
# migration) and a PostgreSQL queue's tables in the same database (Huey makes them).
UNMODELLED_TABLE_PREFIXES = ("message_search", "queue_")


def described_by_models(name: str | None, type_: str, parent_names: dict) -> bool:
    """Tell Alembic's comparison which database objects the models describe (its include_name):
    not the tables of UNMODELLED_TABLE_PREFIXES, which `flask db migrate` would otherwise drop."""
    return not (type_ == "table" and name and name.startswith(UNMODELLED_TABLE_PREFIXES))


def render_item(type_, obj, autogen_context):
    """Write UTCDateTime columns into new migrations as plain timezone-aware DateTime."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure_sqlite(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses no committed data on a crash of the process, only on a power
        # cut of the last transactions, and spares an fsync per commit.
        cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A UTC timestamp that comes back timezone-aware on every database (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
