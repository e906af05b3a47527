"""Flask extensions, created once and bound to the application in `create_app`."""

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model."""


# Every request has its own session, removed when the request ends, so there is nothing to gain
# from expiring everything at each commit: what a view shows after saving is what it saved, not
# a second SELECT of the same rows. Code that must see other workers' changes after a commit asks
# for them (populate_existing, refresh).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
login_manager = LoginManager()
# Sessions are rows on the server, ended by sign-out and bound to a token in the cookie: Flask-Login's
# own protection (a hash of address and browser, re-computed on every request) adds nothing to them,
# and no page asks for a "fresh" sign-in.
login_manager.session_protection = None
