"""`flask --app wsgi mail-worker`: run the queue's tasks and the schedule until stopped."""

import time

import click
from flask import current_app
from huey.consumer import Consumer

from .. import config
from ..extensions import db
from ..sync.push import Watchers
from . import bp
from .queue import describe, log_through_oroflask, queue_of


# How long a stop waits for the watchers' IDLE connections to end (they are woken at once).
WATCHERS_STOP_SECONDS = 1.0


@bp.cli.command("mail-worker")
@click.option("--workers", type=click.IntRange(1, 64), help="Tasks run at once (default: QUEUE_WORKERS, 2).")
@click.option(
    "--worker-type",
    type=click.Choice(config.WORKER_TYPES),
    help="Threads, or processes for work that keeps a CPU busy (default: QUEUE_WORKER_TYPE, thread).",
)
def mail_worker(workers: int | None, worker_type: str | None) -> None:
    """Run the background worker: queued tasks, the schedule and push (IDLE). SIGTERM lets running tasks finish
    (for QUEUE_SHUTDOWN_SECONDS at most); Ctrl+C stops at once and puts running tasks back on the queue."""
    app = current_app._get_current_object()
    workers = workers or app.config["QUEUE_WORKERS"]
    worker_type = worker_type or app.config["QUEUE_WORKER_TYPE"]
    log_through_oroflask(app)
    consumer = _Consumer(
        f"  oroflask: the worker runs ({workers} {worker_type} workers, {describe(app)})",
        Watchers(app),
        queue_of(app).huey,
        workers=workers,
        worker_type=worker_type,
        periodic=True,
        # Polling the SQLite queue: at most a second between looks when idle.
        max_delay=1.0,
        graceful_signal="TERM",
        shutdown_timeout=app.config["QUEUE_SHUTDOWN_SECONDS"],
    )
    if worker_type == "process":
        # Each forked worker opens its own database connections, never its parent's.
        consumer.huey.on_startup("own database connections")(lambda: _forget_connections(app))
    consumer.run()
    app.logger.info("The worker stopped")


class _Consumer(Consumer):
    """Huey's consumer with the IDLE watchers of push beside it, saying that it runs once it listens
    for SIGTERM and Ctrl+C."""

    def __init__(self, announcement: str, watchers: Watchers, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.announcement = announcement
        self.watchers = watchers

    def start(self) -> None:
        super().start()
        # Started after the consumer's processes: a fork never copies a watcher's thread.
        self.watchers.start()
        click.echo(self.announcement)

    def stop(self, graceful: bool = False) -> None:
        self.watchers.stop()
        started = time.monotonic()
        super().stop(graceful)
        # Ctrl+C stops at once; SIGTERM lets a push's sync of an Inbox finish, within the time-out.
        left = self.shutdown_timeout - (time.monotonic() - started) if graceful else WATCHERS_STOP_SECONDS
        self.watchers.wait(max(left, WATCHERS_STOP_SECONDS))


def _forget_connections(app) -> None:
    with app.app_context():
        db.engine.dispose(close=False)
