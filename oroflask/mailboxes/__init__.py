"""Mailboxes: My mailbox (a user's own Office 365 mailbox) connected, checked, its folders chosen."""

from flask import Blueprint

bp = Blueprint("mailboxes", __name__)

from . import routes, service  # noqa: E402,F401  (routes register themselves on bp)

service.register()
