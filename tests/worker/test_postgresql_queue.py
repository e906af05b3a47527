"""The PostgreSQL queue, shared by the workers of several machines: one lock for all of them,
retries and delayed tasks through its schedule, and the periodic tasks it is given."""

import threading
import time
from datetime import datetime

import pytest
from flask import current_app
from huey import crontab
from huey.exceptions import TaskLockedException
from huey.utils import utcnow

from oroflask import create_app
from oroflask.worker import queue as queue_module
from oroflask.worker.queue import periodic_task, queue_of, task


@pytest.fixture
def shared_config(config, postgresql_queue_url):
    config.update(QUEUE_URL=postgresql_queue_url, QUEUE_NAME="oroflask-shared")
    return config


@pytest.fixture
def machines(shared_config):
    """Return the queues of two applications on the same PostgreSQL queue, as two machines' workers have."""
    queues = [queue_of(create_app(dict(shared_config))).huey for _ in range(2)]
    yield queues
    queues[0].flush()
    for huey in queues:
        huey.storage.close()


@pytest.fixture
def declared(monkeypatch):
    """Declare tasks for this test only (the application's own are left out)."""
    monkeypatch.setattr(queue_module, "_tasks", {})


def test_a_mailbox_lock_is_held_by_one_machine_at_a_time(machines):
    first, second = machines
    taken = []

    def take(huey) -> None:
        try:
            huey.lock_task("sync-mailbox-7").acquire()
        except TaskLockedException:
            return
        taken.append(huey)

    racers = [threading.Thread(target=take, args=(huey,)) for huey in machines * 8]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()

    assert len(taken) == 1
    assert first.is_locked("sync-mailbox-7") and second.is_locked("sync-mailbox-7")
    assert not first.is_locked("sync-mailbox-8")
    taken[0].lock_task("sync-mailbox-7").release()
    assert not first.is_locked("sync-mailbox-7")
    with second.lock_task("sync-mailbox-7"):
        with pytest.raises(TaskLockedException):
            first.lock_task("sync-mailbox-7").acquire()


def test_a_failed_task_waits_on_the_schedule_for_its_retry(shared_config, declared):
    attempts = []

    @task(retries=1, retry_delay=2)
    def reach_the_server(address: str) -> None:
        attempts.append(address)
        raise ConnectionError(f"{address} refused")

    app = create_app(shared_config)
    huey = queue_of(app).huey
    try:
        with app.app_context():
            reach_the_server.enqueue("imap.example.com")
        huey.execute(huey.dequeue())

        assert (huey.pending_count(), huey.scheduled_count()) == (0, 1)
        assert huey.read_schedule(utcnow()) == [], "not before its delay"
        time.sleep(2.1)
        [retry] = huey.read_schedule(utcnow())
        huey.execute(retry)

        assert attempts == ["imap.example.com"] * 2
        assert (huey.pending_count(), huey.scheduled_count()) == (0, 0)
    finally:
        huey.flush()
        huey.storage.close()


def test_a_periodic_task_due_runs_once_through_the_queue(shared_config, declared):
    runs = []

    @periodic_task(crontab(minute="*/5"))
    def poll() -> None:
        runs.append(current_app.config["QUEUE_NAME"])

    app = create_app(shared_config)
    huey = queue_of(app).huey
    try:
        assert huey.read_periodic(datetime(2026, 12, 1, 3, 16)) == []
        for due in huey.read_periodic(datetime(2026, 12, 1, 3, 15)):
            huey.enqueue(due)
        assert huey.pending_count() == 1

        huey.execute(huey.dequeue())

        assert runs == ["oroflask-shared"]
        assert huey.pending_count() == 0
    finally:
        huey.flush()
        huey.storage.close()
