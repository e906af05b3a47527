"""Fixtures: an application on a fresh, migrated database per test, clients and signed-in users.

The database is a SQLite file, or with OROFLASK_TEST_DATABASE_URL (a PostgreSQL URL such as
postgresql+psycopg://postgres@127.0.0.1:5432/test) a schema of its own in that database.
"""

import os
import re
import secrets
import time
from collections.abc import Iterator
from html.parser import HTMLParser

import flask_migrate
import pytest
import sqlalchemy
from cryptography.fernet import Fernet
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.pool import NullPool
from werkzeug.security import generate_password_hash

from oroflask import create_app
from oroflask.auth import service as accounts
from oroflask.auth.models import User
from oroflask.extensions import db
from oroflask.audit.models import SETTINGS, AuditEvent
from oroflask.settings.models import MicrosoftSettings

# The real mail servers, for every test package (tests/dovecot/).
from tests.dovecot.fixtures import dovecot, dovecot_condstore, mail_identity_provider  # noqa: F401

ADMIN_EMAIL = "admin@example.com"
USER_EMAIL = "user@example.com"
PASSWORD = "correct horse battery"

SETTINGS_PAGE = "/admin/config/integrations/microsoft"
CLIENT_ID = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
CLIENT_SECRET = "Qx8~kR2.vN5_tL9-wP3zYb7cD1fG4hJ6mS0aE"
TENANT = "contoso.onmicrosoft.com"
DEFAULTS = {
    "MICROSOFT_CLIENT_ID": "ffffffff-1111-2222-3333-444444444444",
    "MICROSOFT_CLIENT_SECRET": "Dz3~defaultSecretValue.from-config_0987",
    "MICROSOFT_TENANT": "organizations",
}


TEST_DATABASE_URL = os.environ.get("OROFLASK_TEST_DATABASE_URL", "")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "app_config(**settings): configuration of the test application for this test"
    )
    config.addinivalue_line(
        "markers", "gunicorn: starts real gunicorn servers (seconds each); part of every run"
    )


def pytest_report_header(config) -> str:
    where = sqlalchemy.make_url(TEST_DATABASE_URL).render_as_string() if TEST_DATABASE_URL else "SQLite"
    return f"oroflask test database: {where}"


@pytest.fixture(scope="session")
def postgresql():
    """Return an engine on the PostgreSQL database of OROFLASK_TEST_DATABASE_URL, to make schemas."""
    engine = sqlalchemy.create_engine(TEST_DATABASE_URL, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def database(request, tmp_path) -> Iterator[dict]:
    """Return the settings of an empty database of this test's own.

    A SQLite file; or on PostgreSQL a schema that the connections' search_path points at,
    dropped after the test.
    """
    if not TEST_DATABASE_URL:
        yield {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite'}"}
        return
    engine = request.getfixturevalue("postgresql")
    schema = f"test_{secrets.token_hex(8)}"
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield {
        "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
    }
    with engine.begin() as connection:
        # A connection a test left inside a transaction would hold its tables: fail, do not hang.
        connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def config(tmp_path, request, database) -> dict:
    """Return the configuration of the test application; tests may change it before `app` is built.

    A test (or module) marked `@pytest.mark.app_config(KEY=value)` gets those keys on top.
    """
    settings = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test secret key",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        **database,
    }
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        settings.update(marker.kwargs)
    return settings


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


# Test accounts keep a cheap hash so that signing in costs little; the default method is used by
# the accounts that the tests create through the setup page and the create-admin command.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def make_user(app, email: str, role: str):
    with app.app_context():
        db.session.add(User(email=email, role=role, password_hash=PASSWORD_HASH))
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


def expired_csrf_token(client) -> str:
    """Return a CSRF token of this client's session as a page would have embedded it long ago."""
    app = client.application
    csrf_token(client, SETTINGS_PAGE)
    with client.session_transaction() as session:
        raw_token = session["csrf_token"]

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - app.config["WTF_CSRF_TIME_LIMIT"] - 60

    serializer = URLSafeTimedSerializer(
        app.config["SECRET_KEY"], salt="wtf-csrf-token", signer=LongAgo
    )
    return serializer.dumps(raw_token)


def submit_setup(client, code: str, email: str = ADMIN_EMAIL, password: str = PASSWORD):
    """Submit the setup page (first administrator) with this code, e-mail and password twice."""
    return client.post(
        "/setup",
        data={
            "setup_code": code,
            "email": email,
            "password": password,
            "password_confirm": password,
            "csrf_token": csrf_token(client, "/setup"),
        },
    )


def set_up_first_admin(app, client) -> None:
    """Create the first administrator on the setup page, as the person installing the app does."""
    with app.app_context():
        code = accounts.setup_code()
    response = submit_setup(client, code)
    assert response.status_code == 302, response.get_data(as_text=True)


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


def field_url(name: str) -> str:
    return f"{SETTINGS_PAGE}/fields/{name}"


def use_default_url(name: str) -> str:
    return f"{SETTINGS_PAGE}/fields/{name}/use-default"


def htmx_headers(client, trigger: str, token: str | None = None) -> dict:
    """Return the headers htmx sends when the input `trigger` of the settings page changes."""
    headers = {
        "HX-Request": "true",
        "HX-Current-URL": f"http://localhost{SETTINGS_PAGE}",
        "HX-Target": f"field-{trigger.removesuffix('_use_default')}",
        "HX-Trigger": trigger,
    }
    headers["X-CSRFToken"] = csrf_token(client, SETTINGS_PAGE) if token is None else token
    return headers


def live_save(client, name: str, value: str, confirmed: bool = False):
    """Change one field's input, as htmx posts it (`confirmed`: as its confirmation button does)."""
    data = {name: value, **({"confirmed": "y"} if confirmed else {})}
    return client.post(field_url(name), data=data, headers=htmx_headers(client, name))


def toggle_use_default(client, name: str, on: bool, confirmed: bool = False):
    """Tick or untick a field's Use Default checkbox, as htmx posts it."""
    data = {f"{name}_use_default": "y"} if on else {}
    if confirmed:
        data["confirmed"] = "y"
    return client.post(
        use_default_url(name), data=data, headers=htmx_headers(client, f"{name}_use_default")
    )


def save_settings(client, **fields):
    """Press Save Settings with these form fields (a plain form POST, JavaScript off)."""
    form = {"client_id": "", "client_secret": "", "tenant": ""}
    form.update(fields)
    form["csrf_token"] = csrf_token(client, SETTINGS_PAGE)
    return client.post(SETTINGS_PAGE, data=form)


def stored_settings(app) -> dict:
    """Return the Microsoft Settings row as the database holds it."""
    with app.app_context():
        row = db.session.get(MicrosoftSettings, 1)
        return {
            "client_id": row.client_id,
            "client_secret_encrypted": row.client_secret_encrypted,
            "tenant": row.tenant,
        }


def recorded_changes(app) -> list[AuditEvent]:
    """Return the audit log's record of setting changes, oldest first."""
    with app.app_context():
        return list(
            db.session.execute(db.select(AuditEvent).where(AuditEvent.area == SETTINGS).order_by(AuditEvent.id)).scalars()
        )


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs, tag=tag)
        if attributes.get("id"):
            self.by_id.setdefault(attributes["id"], attributes)


def element(page: str, element_id: str) -> dict[str, str | None] | None:
    """Return the attributes of the element with this id in `page` (and its `tag`), or None."""
    parser = _Elements()
    parser.feed(page)
    return parser.by_id.get(element_id)


def field_html(page: str, name: str) -> str:
    """Return the markup of one field of the settings page (its label, input, hint and messages)."""
    start = rf'<div class="field[^"]*" id="field-{name}"'
    end = r'(?=<div class="field[^"]*" id="field-|</fieldset>|\Z)'
    match = re.search(start + ".*?" + end, page, re.S)
    assert match, f"no field {name} in the page"
    return match.group(0)
