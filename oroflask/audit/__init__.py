"""The audit log: who changed what, when; its page is for administrators."""

from flask import Blueprint

bp = Blueprint("audit", __name__)

from .service import record  # noqa: E402,F401  (the one way every feature records a change)
