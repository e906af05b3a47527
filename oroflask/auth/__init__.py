"""Accounts: first-admin setup, login, roles."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import cli, routes  # noqa: E402,F401  (routes register themselves on bp)
