"""The audit log: who changed what, when; its page is for administrators."""

from flask import Blueprint

bp = Blueprint("audit", __name__)

from .service import name_subjects, record  # noqa: E402,F401  (how a feature records, and names its subjects)
from . import routes  # noqa: E402,F401  (routes register themselves on bp)
