"""A local stand-in for the Microsoft identity platform v2.0, for development and tests.

Never active unless started on purpose (``python -m oroflask.devidp`` or ``testing.serve``);
the application does not import it.
"""

from flask import Flask

from . import control, routes
from .directory import Directory
from .provider import Provider


def create_app(config: dict | None = None) -> Flask:
    """Create the dev identity provider, its directory seeded from `config` or the fixed defaults."""
    app = Flask(__name__, template_folder="templates", static_url_path="/_devidp/static")
    app.json.sort_keys = False
    app.extensions["devidp"] = Provider(Directory(config))
    app.register_blueprint(routes.bp)
    app.register_blueprint(control.bp)
    return app
