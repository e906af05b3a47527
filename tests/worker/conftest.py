"""The worker as a deployment runs it: `flask --app wsgi mail-worker` in a process of its own, on the
test's database, against the local identity provider, on a SQLite, a Redis or a PostgreSQL queue."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import update

from oroflask.connection import service
from oroflask.connection.models import MicrosoftGrant
from oroflask.database import utcnow
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.worker import queue_of
from tests.connection.conftest import flow, idp  # noqa: F401
from tests.dovecot.fixtures import identity_provider_settings

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_SECONDS = 30
WORKER_LINE = "oroflask: the worker runs"
# The settings a worker process needs to share the test application's database and keys.
SHARED_SETTINGS = (
    "SQLALCHEMY_DATABASE_URI",
    "SQLALCHEMY_ENGINE_OPTIONS",
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "MICROSOFT_AUTHORITY",
    "MICROSOFT_HTTP_TIMEOUT",
    "MICROSOFT_CLIENT_ID",
    "MICROSOFT_CLIENT_SECRET",
    "MICROSOFT_TENANT",
    "QUEUE_URL",
    "QUEUE_NAME",
)


@pytest.fixture
def config(config, idp):  # noqa: F811
    config.update(identity_provider_settings(idp))
    return config


def unreachable(message: str) -> None:
    """Fail in CI, where every queue's server must run; skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgresql_queue_url():
    """Return the URL of a PostgreSQL queue whose tables live in a schema of the test's own, dropped after it."""
    schema = f"queue_test_{secrets.token_hex(6)}"
    try:
        server = psycopg.connect(POSTGRESQL_URL.replace("+psycopg", ""), autocommit=True, connect_timeout=2)
    except psycopg.OperationalError as error:
        unreachable(f"PostgreSQL does not answer at {POSTGRESQL_URL} ({error}); install and start postgresql")
    with server:
        server.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{POSTGRESQL_URL}?options=-csearch_path%3D{schema}"
        server.execute("SET lock_timeout = '10s'")
        server.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def queue_config(request, config):
    """Put the test application on a SQLite queue in its instance folder, or on a Redis or a
    PostgreSQL queue of its own.

    Ask for it before `app`, which is built from the configuration.
    """
    if request.param == "redis":
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as error:
            unreachable(f"Redis does not answer at {REDIS_URL} ({error}); install and start redis-server")
        config.update(QUEUE_URL=REDIS_URL, QUEUE_NAME=f"oroflask-test-{secrets.token_hex(6)}")
    if request.param == "postgresql":
        url = request.getfixturevalue("postgresql_queue_url")
        config.update(QUEUE_URL=url, QUEUE_NAME=f"oroflask-test-{secrets.token_hex(6)}")
    return config


@pytest.fixture
def empty_queue(app):
    """Leave nothing of the test's queue behind (on Redis, its keys), and close its connections."""
    yield
    huey = queue_of(app).huey
    huey.flush()
    huey.storage.close()


class WorkerProcess:
    """`flask --app wsgi mail-worker` with the test application's settings; its output in a file."""

    def __init__(self, app, output: Path, *arguments: str, settings: dict | None = None):
        environment = {key: value for key, value in os.environ.items() if not key.startswith("OROFLASK_")}
        environment["OROFLASK_INSTANCE_PATH"] = app.instance_path
        for key in SHARED_SETTINGS:
            if key in app.config:
                value = app.config[key]
                environment[f"OROFLASK_{key}"] = value if isinstance(value, str) else json.dumps(value)
        environment.update({f"OROFLASK_{key}": value for key, value in (settings or {}).items()})
        self.output = output
        with open(output, "wb") as written:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "mail-worker", *arguments],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=written,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.output.read_text()

    def wait_until_running(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while WORKER_LINE not in self.text():
            assert self.process.poll() is None, "the worker ended:\n" + self.text()
            assert time.monotonic() < deadline, "the worker did not start:\n" + self.text()
            time.sleep(0.1)

    def stop(self, signal_number: int = signal.SIGTERM, seconds: float = 10) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def start_worker(tmp_path):
    """Return a function that starts a worker process on an application's settings; all are stopped at the end."""
    started: list[WorkerProcess] = []

    def start(app, *arguments: str, settings: dict | None = None) -> WorkerProcess:
        worker = WorkerProcess(app, tmp_path / f"worker-{len(started)}.log", *arguments, settings=settings)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def make_idle(app, days: int = 40) -> None:
    """Make the stored grant look unused for `days` days."""
    with app.app_context():
        db.session.execute(update(MicrosoftGrant).values(connected_at=utcnow() - timedelta(days=days), refreshed_at=None))
        db.session.commit()


def expire_refresh_lease(app) -> None:
    """Let the refresh lease of a worker that was stopped mid-refresh run out."""
    with app.app_context():
        db.session.execute(update(MicrosoftGrant).values(refresh_lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def stored_grant(app) -> dict:
    """Return the site's grant as the database holds it, its refresh token decrypted."""
    with app.app_context():
        grant = service.site_grant()
        return {"refreshed_at": grant.refreshed_at, "refresh_token": decrypt(grant.refresh_token_encrypted)}


def wait_for_refresh(app, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while (grant := stored_grant(app))["refreshed_at"] is None:
        assert time.monotonic() < deadline, "the worker did not refresh the grant"
        time.sleep(0.2)
    return grant
