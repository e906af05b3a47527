"""Mailboxes: My mailbox (a user's own Office 365 mailbox) and System mailboxes (shared ones that
admins connect and give readers), each connected, checked by the worker, its folders chosen."""

from flask import Blueprint

bp = Blueprint("mailboxes", __name__)

from . import routes, service, system_routes, system_service, tasks  # noqa: E402,F401  (they register themselves on bp)

service.register()
system_service.register()
