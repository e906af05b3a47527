"""/healthz for load balancers and monitoring: is the database there, with its schema?"""

from flask import Blueprint, current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .auth.models import User
from .extensions import db

bp = Blueprint("health", __name__)

PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
# One row of the accounts table: the database answers and has its schema.
_PROBE = select(User.id).limit(1)


@bp.route("/healthz")
def check():
    """Answer 200 "ok" when the database answers, else 503 "unavailable", with no details."""
    try:
        # A pooled connection without an ORM session: the cheapest real round trip.
        with db.engine.connect() as connection:
            connection.execute(_PROBE)
    except SQLAlchemyError as error:
        # One line without a traceback: a load balancer asks every few seconds.
        current_app.logger.warning(
            "Health check failed: the database did not answer (%s)", type(error).__name__
        )
        return "unavailable\n", 503, PLAIN_TEXT
    return "ok\n", 200, PLAIN_TEXT
