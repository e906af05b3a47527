"""The background worker: a task queue (Huey) and `flask --app wsgi mail-worker`, which runs its
tasks and its schedule."""

from flask import Blueprint, Flask

from .queue import periodic_task, queue_of, task

__all__ = ["bp", "init_app", "periodic_task", "queue_of", "task"]

bp = Blueprint("worker", __name__, cli_group=None)

from . import cli  # noqa: E402,F401  (the command registers itself on bp)


def init_app(app: Flask) -> None:
    """Register the worker's command; features declare their tasks where they live."""
    app.register_blueprint(bp)
