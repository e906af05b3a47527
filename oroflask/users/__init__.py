"""System › Users: administrators list, create and edit accounts and reset their passwords."""

from flask import Blueprint

bp = Blueprint("users", __name__, cli_group=None)

from . import cli, routes  # noqa: E402,F401  (routes and commands register themselves on bp)
