"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import click

from oroflask import create_app

# A `flask` command (click is running one) gets the migration commands; gunicorn's workers, which
# only serve requests, are spared loading Alembic.
app = create_app(migrations=click.get_current_context(silent=True) is not None)
