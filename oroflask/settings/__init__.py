"""System > Configuration > Integrations > Microsoft Settings."""

from flask import Blueprint

bp = Blueprint("settings", __name__, cli_group=None)
PAGE = "/admin/config/integrations/microsoft"

from . import cli, routes  # noqa: E402,F401  (routes register themselves on bp)
