"""Fixtures: an application on a fresh, migrated database per test, clients and signed-in users."""

import re

import flask_migrate
import pytest
from cryptography.fernet import Fernet

from oroflask import create_app
from oroflask.auth import service as accounts
from oroflask.extensions import db

ADMIN_EMAIL = "admin@example.com"
USER_EMAIL = "user@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path) -> dict:
    """Return the configuration of the test application; tests may change it before `app` is built."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test secret key",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite'}",
    }


@pytest.fixture
def app(config):
    app = create_app(config)
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def make_user(app, email: str, role: str):
    with app.app_context():
        accounts.create_user(email, PASSWORD, role=role)
        db.session.commit()
        accounts.retire_setup_code()


@pytest.fixture
def admin(app) -> str:
    make_user(app, ADMIN_EMAIL, "admin")
    return ADMIN_EMAIL


@pytest.fixture
def user(app, admin) -> str:
    make_user(app, USER_EMAIL, "user")
    return USER_EMAIL


def csrf_token(client, path: str = "/login") -> str:
    """Return the CSRF token of this client's session, as a page embeds it."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )


@pytest.fixture
def admin_client(client, admin):
    assert sign_in(client, admin).status_code == 302
    return client


@pytest.fixture
def user_client(client, user):
    assert sign_in(client, user).status_code == 302
    return client
