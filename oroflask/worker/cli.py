"""`flask --app wsgi mail-worker`: run the queue's tasks and the schedule until stopped."""

import click
from flask import current_app
from huey.consumer import Consumer

from .. import config
from ..extensions import db
from . import bp
from .queue import describe, log_through_oroflask, queue_of


@bp.cli.command("mail-worker")
@click.option("--workers", type=click.IntRange(1, 64), help="Tasks run at once (default: QUEUE_WORKERS, 2).")
@click.option(
    "--worker-type",
    type=click.Choice(config.WORKER_TYPES),
    help="Threads, or processes for work that keeps a CPU busy (default: QUEUE_WORKER_TYPE, thread).",
)
def mail_worker(workers: int | None, worker_type: str | None) -> None:
    """Run the background worker: queued tasks and the schedule. SIGTERM lets running tasks finish
    (for QUEUE_SHUTDOWN_SECONDS at most); Ctrl+C stops at once and puts running tasks back on the queue."""
    app = current_app._get_current_object()
    workers = workers or app.config["QUEUE_WORKERS"]
    worker_type = worker_type or app.config["QUEUE_WORKER_TYPE"]
    log_through_oroflask(app)
    consumer = _Consumer(
        f"  oroflask: the worker runs ({workers} {worker_type} workers, {describe(app)})",
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
    """Huey's consumer, saying that it runs once it listens for SIGTERM and Ctrl+C."""

    def __init__(self, announcement: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.announcement = announcement

    def start(self) -> None:
        super().start()
        click.echo(self.announcement)


def _forget_connections(app) -> None:
    with app.app_context():
        db.engine.dispose(close=False)
