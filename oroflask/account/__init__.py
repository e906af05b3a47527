"""My account: one's e-mail, password and signed-in sessions."""

from flask import Blueprint

bp = Blueprint("account", __name__)

from . import routes  # noqa: E402,F401  (routes register themselves on bp)
