"""`flask --app wsgi mail-worker` runs what the application enqueues, and stops when told to."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from oroflask import create_app
from oroflask.worker import queue_of
from oroflask.connection.tasks import refresh_idle_grants
from tests.connection.conftest import behave, stats

from .conftest import ROOT, expire_refresh_lease, make_idle, stored_grant, wait_for_refresh


def refreshes(idp: str) -> int:
    return stats(idp)["token_requests"]["refresh_token"]


def wait_for_token_request(idp: str, worker) -> None:
    """Wait until the worker's task has asked the identity provider for a token (it is running)."""
    deadline = time.monotonic() + 10
    while refreshes(idp) == 0:
        assert time.monotonic() < deadline, "the task did not start:\n" + worker.text()
        time.sleep(0.05)


@pytest.fixture
def connected(app, flow):
    """Authorize through the whole flow so that a real grant is stored."""
    response = flow.run()
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_task_enqueued_in_a_request_runs_in_the_worker(queue_config, app, empty_queue, connected, start_worker, idp):
    make_idle(app)
    before = stored_grant(app)
    worker = start_worker(app)
    worker.wait_until_running()
    kind = {"": "SQLite", "redis": "Redis", "postgresql+psycopg": "PostgreSQL"}[app.config["QUEUE_URL"].partition(":")[0]]
    assert f"the {kind} queue" in worker.text()
    assert bool(app.config["QUEUE_URL"]) == ("QUEUE_URL" in queue_config)

    with app.test_request_context("/"):
        refresh_idle_grants.enqueue()

    after = wait_for_refresh(app)
    assert after["refresh_token"] != before["refresh_token"]
    assert refreshes(idp) == 1
    assert worker.stop() == 0
    assert "Traceback" not in worker.text()


def test_a_task_enqueued_while_no_worker_runs_waits_for_one(queue_config, app, empty_queue, connected, start_worker):
    make_idle(app)
    with app.app_context():
        refresh_idle_grants.enqueue()
    time.sleep(0.5)
    assert stored_grant(app)["refreshed_at"] is None

    start_worker(app).wait_until_running()

    wait_for_refresh(app)


def test_sigterm_stops_an_idle_worker_within_seconds(queue_config, app, empty_queue, start_worker):
    worker = start_worker(app)
    worker.wait_until_running()

    started = time.monotonic()
    assert worker.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert "The worker stopped" in worker.text()


def test_sigterm_lets_the_running_task_finish(app, empty_queue, connected, start_worker, idp):
    make_idle(app)
    behave(idp, token_delay=1.5)
    worker = start_worker(app)
    worker.wait_until_running()
    with app.app_context():
        refresh_idle_grants.enqueue()
    wait_for_token_request(idp, worker)
    assert stored_grant(app)["refreshed_at"] is None

    assert worker.stop(signal.SIGTERM) == 0

    assert stored_grant(app)["refreshed_at"] is not None


# On every queue: on Redis and PostgreSQL the stopping worker's other thread, woken at once by a
# task put straight back on the queue, would take it down with it.
def test_ctrl_c_puts_the_running_task_back_on_the_queue(queue_config, app, empty_queue, connected, start_worker, idp):
    make_idle(app)
    behave(idp, token_delay=4)
    worker = start_worker(app)
    worker.wait_until_running()
    with app.app_context():
        refresh_idle_grants.enqueue()
    wait_for_token_request(idp, worker)

    started = time.monotonic()
    worker.stop(signal.SIGINT)

    assert time.monotonic() - started < 3
    assert stored_grant(app)["refreshed_at"] is None
    behave(idp, token_delay=0)
    expire_refresh_lease(app)
    start_worker(app).wait_until_running()
    wait_for_refresh(app)
    assert refreshes(idp) == 2


def test_the_worker_type_and_count_can_be_chosen(app, empty_queue, connected, start_worker):
    make_idle(app)
    worker = start_worker(app, "--workers", "1", "--worker-type", "process")
    worker.wait_until_running()
    assert "(1 process workers," in worker.text()
    with app.app_context():
        refresh_idle_grants.enqueue()

    wait_for_refresh(app)


@pytest.mark.parametrize("url", ["amqp://guest:hunter2secret@127.0.0.1:5672/", "mysql://u:hunter2secret@db/x", "hunter2secret"])
def test_an_unknown_queue_url_stops_the_start(config, url):
    config["QUEUE_URL"] = url

    with pytest.raises(ValueError, match="QUEUE_URL must be empty .*, a Redis URL .* or a PostgreSQL URL") as refused:
        create_app(config)

    assert "hunter2secret" not in str(refused.value)


def test_an_unknown_queue_url_stops_the_worker_command(app, start_worker):
    worker = start_worker(app, settings={"QUEUE_URL": "amqp://guest:hunter2secret@127.0.0.1:5672/"})

    assert worker.process.wait(timeout=30) != 0
    output = worker.text()
    assert "QUEUE_URL must be empty (a SQLite queue in the instance folder), a Redis URL" in output
    assert "not a URL of the scheme 'amqp'" in output
    assert "hunter2secret" not in output


def test_the_idle_grants_are_refreshed_daily(app):
    with app.app_context():
        huey = queue_of(app).huey
    daily = [datetime(2026, 12, day, 3, 17, tzinfo=timezone.utc).replace(tzinfo=None) for day in (1, 2, 3)]
    other_times = [datetime(2026, 12, 1, hour, minute) for hour, minute in ((3, 16), (3, 18), (15, 17), (0, 0))]


    def refreshes(moment: datetime) -> list[str]:
        # Other features' schedules (the mail sync's, every minute) are theirs to test.
        return [task.name for task in huey.read_periodic(moment) if task.name == refresh_idle_grants.name]

    for moment in daily:
        assert refreshes(moment) == [refresh_idle_grants.name]
    for moment in other_times:
        assert refreshes(moment) == []


def test_the_periodic_task_refreshes_only_idle_grants(app, connected, idp):
    with app.app_context():
        refresh_idle_grants()
    assert stored_grant(app)["refreshed_at"] is None
    assert refreshes(idp) == 0

    make_idle(app)
    with app.app_context():
        refresh_idle_grants()

    assert stored_grant(app)["refreshed_at"] is not None
    assert refreshes(idp) == 1


def test_a_command_on_sqlite_runs_neither_alembic_nor_psycopg_nor_nh3(tmp_path):
    # What the mail worker's process holds before its first task: these weigh about 20 MB together.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OROFLASK_")}
    environment["OROFLASK_INSTANCE_PATH"] = str(tmp_path)
    loaded = "import sys; print(sorted(m for m in sys.modules if m.startswith(('alembic', 'flask_migrate', 'psycopg.', 'nh3'))))"

    shell = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "shell"],
        cwd=ROOT, env=environment, input=loaded + "\n", capture_output=True, text=True, timeout=120,
    )

    assert shell.returncode == 0, shell.stderr
    assert ">>> []" in shell.stdout
