"""Microsoft grants: Enable authorizing the site with Microsoft, its status, and the token store
that keeps every grant alive."""

from flask import Blueprint

bp = Blueprint("connection", __name__, cli_group=None)

from . import cli, routes, tasks  # noqa: E402,F401  (routes and tasks register themselves)
