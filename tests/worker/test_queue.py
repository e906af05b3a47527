"""The queue in the application: tasks run in its context, failures are logged redacted and retried,
and its settings are checked at start-up."""

import pytest
from flask import current_app

from oroflask import create_app
from oroflask.worker import queue as queue_module
from oroflask.worker.queue import describe, log_through_oroflask, queue_of, task

SECRET = "hunter2secretvalue"


@pytest.fixture
def declared(monkeypatch):
    """Declare tasks for this test only (the application's own are left out)."""
    monkeypatch.setattr(queue_module, "_tasks", {})


def test_a_failing_task_is_logged_without_secrets_and_retried_as_it_says(app, declared, capsys):
    attempts = []

    @task(retries=1)
    def reach_the_server(address: str) -> None:
        attempts.append((current_app.name, address))
        raise ConnectionError(f"{address} refused refresh_token={SECRET} (Authorization: Bearer {SECRET})")

    with app.test_request_context("/"):
        reach_the_server.enqueue("imap.example.com")
    huey = queue_of(app).huey
    log_through_oroflask(app)

    huey.execute(huey.dequeue())
    assert huey.pending_count() == 1, "the failed task is back on the queue for its retry"
    huey.execute(huey.dequeue())

    assert attempts == [("oroflask", "imap.example.com")] * 2
    assert huey.pending_count() == 0
    errors = capsys.readouterr().err.splitlines()
    failures = [line for line in errors if "Unhandled exception in task" in line]
    assert len(failures) == 2, errors
    assert all(" ERROR [-] huey: " in line and "ConnectionError: imap.example.com refused" in line for line in failures)
    assert all("refresh_token=[redacted]" in line and "Bearer [redacted]" in line for line in failures)
    assert SECRET not in "\n".join(errors)


def test_a_task_called_directly_runs_here_and_now(app, declared):
    @task()
    def add(first: int, second: int) -> int:
        return first + second

    assert add(2, 3) == 5
    assert queue_of(app).huey.pending_count() == 0


def test_the_sqlite_queue_lives_in_the_instance_folder(app, declared, tmp_path):
    @task()
    def nothing() -> None:
        pass

    with app.app_context():
        nothing.enqueue()

    assert (tmp_path / "instance" / "queue.sqlite").exists()
    assert describe(app) == f"the SQLite queue {tmp_path / 'instance' / 'queue.sqlite'}"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("redis://:hunter2secretvalue@queue.example.com:6380/3", "the Redis queue redis://queue.example.com:6380/3 (oroflask)"),
        ("rediss://worker:hunter2secretvalue@queue.example.com/0", "the Redis queue rediss://queue.example.com:6379/0 (oroflask)"),
        ("unix:///run/redis/redis.sock?db=2", "the Redis queue unix:///run/redis/redis.sock (oroflask)"),
        (
            "postgresql+psycopg://worker:hunter2secretvalue@db.example.com:5433/oroflask",
            "the PostgreSQL queue db.example.com:5433/oroflask (oroflask)",
        ),
        ("postgresql://worker:hunter2secretvalue@db.example.com/mail", "the PostgreSQL queue db.example.com:5432/mail (oroflask)"),
        ("postgresql:///oroflask?host=/run/postgresql", "the PostgreSQL queue /run/postgresql:5432/oroflask (oroflask)"),
    ],
)
def test_the_worker_names_its_shared_queue_without_a_password(config, url, said):
    config["QUEUE_URL"] = url

    assert describe(create_app(config)) == said


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("QUEUE_WORKER_TYPE", "greenlet", "QUEUE_WORKER_TYPE must be one of thread, process"),
        ("QUEUE_NAME", "my queue", "QUEUE_NAME must be 1 to 64 letters"),
        ("QUEUE_WORKERS", 0, "QUEUE_WORKERS must be a whole number of at least 1"),
        ("QUEUE_SHUTDOWN_SECONDS", "soon", "QUEUE_SHUTDOWN_SECONDS must be a whole number of at least 1"),
    ],
)
def test_a_wrong_worker_setting_stops_the_start(config, key, value, message):
    config[key] = value

    with pytest.raises(ValueError, match=message):
        create_app(config)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://worker:hunter2secretvalue@db.example.com:port/oroflask", "QUEUE_URL names its PostgreSQL server wrongly"),
        ("postgresql+psycopg://worker:hunter2secretvalue@db.example.com:5432", "QUEUE_URL must name the PostgreSQL database"),
        ("postgresql://worker:hunter2secretvalue@db.example.com/", "QUEUE_URL must name the PostgreSQL database"),
        ("postgresql://worker:hunter2secretvalue@[db.example.com/oroflask", "QUEUE_URL names its PostgreSQL server wrongly"),
    ],
)
def test_a_malformed_postgresql_queue_url_stops_the_start_without_its_password(config, url, message):
    config["QUEUE_URL"] = url

    with pytest.raises(ValueError, match=message) as refused:
        create_app(config)

    assert SECRET not in str(refused.value)


def test_worker_settings_come_from_the_environment(config, monkeypatch):
    monkeypatch.setenv("OROFLASK_QUEUE_URL", "redis://127.0.0.1:6379/5")
    monkeypatch.setenv("OROFLASK_QUEUE_WORKERS", "4")
    monkeypatch.setenv("OROFLASK_QUEUE_WORKER_TYPE", "process")
    monkeypatch.setenv("OROFLASK_INSTANCE_PATH", config["INSTANCE_PATH"])

    app = create_app()

    assert (app.config["QUEUE_URL"], app.config["QUEUE_WORKERS"], app.config["QUEUE_WORKER_TYPE"]) == (
        "redis://127.0.0.1:6379/5",
        4,
        "process",
    )
