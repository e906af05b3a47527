"""/healthz for load balancers and monitoring: is the database there, with its schema?"""

from flask import Blueprint, current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .auth.models import User
from .extensions import db

bp = Blueprint("health", __name__)

PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/healthz")
def check():
    """Answer 200 "ok" when the database answers, else 503 "unavailable", with no details."""
    try:
        db.session.execute(select(User.id).limit(1))
    except SQLAlchemyError as error:
        db.session.rollback()
        # One line without a traceback: a load balancer asks every few seconds.
        current_app.logger.warning(
            "Health check failed: the database did not answer (%s)", type(error).__name__
        )
        return "unavailable\n", 503, PLAIN_TEXT
    return "ok\n", 200, PLAIN_TEXT
