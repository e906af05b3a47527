"""Sending mail: compose, reply, reply all and forward from a mailbox the user may use, the
outbox the worker delivers over SMTP with XOAUTH2, and the test message of a mailbox page."""

from flask import Blueprint

bp = Blueprint("sending", __name__)

from . import models, routes, tasks  # noqa: E402,F401  (the views and tasks register themselves)
