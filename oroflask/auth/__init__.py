"""Accounts: first-admin setup, login, roles."""

from flask import Blueprint

bp = Blueprint("auth", __name__, cli_group=None)

from . import cli, routes  # noqa: E402,F401  (routes register themselves on bp)
