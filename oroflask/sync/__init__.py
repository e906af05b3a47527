"""Mail sync: each mailbox's chosen folders kept in step with its IMAP server, one pass at a time
(`engine.sync_mailbox`), from `flask --app wsgi sync-mail`, from the worker's queue and from its
IDLE watchers (`push`); each mailbox's health panel and Sync now (`routes`, `health`)."""

from flask import Blueprint

bp = Blueprint("sync", __name__, cli_group=None)

from . import cli, models, routes, tasks  # noqa: E402,F401  (the command, views and tasks register themselves)
