"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from oroflask import create_app

# `flask --app wsgi db ...` loads Flask-Migrate and Alembic when it runs; gunicorn's workers, the
# mail worker and the other commands do without them.
app = create_app(migrations=False)
