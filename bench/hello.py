"""The ceiling: a bare Flask "hello world", served with the same gunicorn settings as oroflask."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    """Answer with a fixed text."""
    return "Hello, World!"
