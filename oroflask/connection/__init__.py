"""Enable: authorizing the application with Microsoft, its status, and keeping it alive."""

from flask import Blueprint

bp = Blueprint("connection", __name__, cli_group=None)

from . import cli, routes  # noqa: E402,F401  (routes register themselves on bp)
