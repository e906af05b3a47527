"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from oroflask import create_app

app = create_app()
