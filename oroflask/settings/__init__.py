"""System > Configuration > Integrations > Microsoft Settings."""

from flask import Blueprint

bp = Blueprint("settings", __name__)
PAGE = "/admin/config/integrations/microsoft"

from . import routes  # noqa: E402,F401  (routes register themselves on bp)
