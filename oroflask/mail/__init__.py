"""Mail: the conversations of the mailboxes a user may read, search, a conversation with its
messages shown safely, and read and flag changes written back to the server."""

from flask import Blueprint

bp = Blueprint("mail", __name__)

from . import models, routes, tasks  # noqa: E402,F401  (they register themselves on bp)
