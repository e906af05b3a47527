"""The task queue: tasks declared once at import, and each application's Huey queue built from its
configuration (a SQLite file in the instance folder; or, shared by workers on several machines, a
Redis server or a PostgreSQL database).

A task runs inside the application context of the worker's application, so it uses the database
as a view does. A task can run twice or be stopped midway (a retry, a worker stopped while it
ran): it must be idempotent and commit its progress with the data it describes.
"""

import functools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from flask import Flask, current_app
from huey import PostgresHuey, RedisHuey, SqliteHuey
from huey.api import Huey
from huey.signals import SIGNAL_INTERRUPTED
from huey.utils import normalize_time

from .. import config, logs

QUEUE_FILE = "queue.sqlite"
# The tables of a PostgreSQL queue: queue_task, queue_schedule, queue_kv (the locks), queue_counter.
POSTGRESQL_TABLES = "queue"
_QUEUE = "oroflask.queue"
# A task put back by a stopping worker waits this long in the schedule, so only another worker's
# schedule hands it on: the stopping worker's own threads, still reading the queue, never see it.
PUT_BACK_DELAY_SECONDS = 2
_building = threading.Lock()


@dataclass(frozen=True)
class Task:
    """A function the worker runs; calling it runs it here and now (a command in the foreground)."""

    function: Callable
    name: str
    retries: int
    retry_delay: int
    schedule: Callable | None

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def enqueue(self, *args, **kwargs) -> None:
        """Put the task on the current application's queue and return at once; a worker runs it."""
        queue_of(current_app._get_current_object()).wrappers[self.name](*args, **kwargs)


_tasks: dict[str, Task] = {}


def task(*, retries: int = 0, retry_delay: int = 0) -> Callable[[Callable], Task]:
    """Declare a background task, run again up to `retries` times, `retry_delay` seconds apart, when it fails."""
    return functools.partial(_declare, retries=retries, retry_delay=retry_delay, schedule=None)


def periodic_task(schedule: Callable, *, retries: int = 0, retry_delay: int = 0) -> Callable[[Callable], Task]:
    """Declare a task that the worker's schedule runs when `schedule` (a huey.crontab) says so."""
    return functools.partial(_declare, retries=retries, retry_delay=retry_delay, schedule=schedule)


def _declare(function: Callable, *, retries: int, retry_delay: int, schedule: Callable | None) -> Task:
    declared = Task(function, f"{function.__module__}.{function.__qualname__}", retries, retry_delay, schedule)
    _tasks[declared.name] = declared
    return declared


class Queue:
    """An application's Huey instance and the wrappers that enqueue each declared task on it."""

    def __init__(self, app: Flask):
        self.huey = _huey(app)
        self.wrappers = {declared.name: _register(self.huey, app, declared) for declared in _tasks.values()}
        # A worker stopped while a task ran (Ctrl+C, the shutdown time-out) puts it back.
        self._put_back_ids: set[str] = set()
        self._putting_back = threading.Lock()
        self.huey.signal(SIGNAL_INTERRUPTED)(self._put_back)

    def _put_back(self, signal, interrupted) -> None:
        """Hand a task the worker did not finish to the next worker. Not straight onto the queue: a
        thread of the stopping worker still waiting on it (Redis and PostgreSQL wake a waiting reader
        at once) would take the task and die with it."""
        with self._putting_back:
            if interrupted.id in self._put_back_ids:
                return  # told twice: by the stopping consumer and by the interrupted thread itself
            self._put_back_ids.add(interrupted.id)
        interrupted.eta = normalize_time(delay=PUT_BACK_DELAY_SECONDS, utc=self.huey.utc)
        self.huey.add_schedule(interrupted)


def queue_of(app: Flask) -> Queue:
    """Return the application's queue, built on first use (the web app only opens it to enqueue)."""
    built = app.extensions.get(_QUEUE)
    if built is None:
        with _building:
            built = app.extensions.get(_QUEUE)
            if built is None:
                built = app.extensions[_QUEUE] = Queue(app)
    return built


def describe(app: Flask) -> str:
    """Return where the queue lives, in words and without any password of its URL."""
    url = app.config["QUEUE_URL"]
    if not url:
        return f"the SQLite queue {os.path.join(app.instance_path, QUEUE_FILE)}"
    parts, name = urlsplit(url), app.config["QUEUE_NAME"]
    if parts.scheme in config.POSTGRESQL_QUEUE_SCHEMES:
        # A server named in the query (a socket's folder) is where libpq looks, as psycopg reads it.
        host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
        return f"the PostgreSQL queue {host}:{parts.port or 5432}{parts.path} ({name})"
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}{parts.path}"
    return f"the Redis queue {parts.scheme}://{where} ({name})"


def log_through_oroflask(app: Flask) -> None:
    """Write Huey's warnings and errors (a task that failed, with its traceback) as oroflask's log lines, redacted."""
    huey_logger = logging.getLogger("huey")
    logs.write_as_lines(huey_logger)
    # Huey tells of every task it runs at INFO: only its warnings and errors are worth a line.
    huey_logger.setLevel(max(logging.WARNING, logging.getLevelName(app.config["LOG_LEVEL"])))


def _huey(app: Flask) -> Huey:
    name, url = app.config["QUEUE_NAME"], app.config["QUEUE_URL"]
    # Nothing reads a task's return value: results are not kept.
    if not url:
        return SqliteHuey(name, filename=os.path.join(app.instance_path, QUEUE_FILE), results=False)
    if urlsplit(url).scheme in config.POSTGRESQL_QUEUE_SCHEMES:
        # psycopg reads the URL itself, without SQLAlchemy's "+psycopg". A worker waits for a task
        # with LISTEN, woken by the NOTIFY of each enqueue, instead of polling the table.
        return PostgresHuey(name, dsn="postgresql:" + url.partition(":")[2], table_prefix=POSTGRESQL_TABLES, results=False)
    return RedisHuey(name, url=url, results=False)


def _register(huey: Huey, app: Flask, declared: Task):
    @functools.wraps(declared.function)
    def run_in_application(*args, **kwargs):
        with app.app_context():
            return declared.function(*args, **kwargs)

    options = {"name": declared.name, "retries": declared.retries, "retry_delay": declared.retry_delay}
    if declared.schedule is None:
        return huey.task(**options)(run_in_application)
    return huey.periodic_task(declared.schedule, **options)(run_in_application)
