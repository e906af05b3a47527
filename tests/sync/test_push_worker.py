"""`flask --app wsgi mail-worker` in a process of its own watches the Inbox and pushes a delivered
message into the database; SIGTERM stops it within seconds and gives the mailbox up."""

import signal
import time

import pytest

from tests.dovecot.fixtures import ALEX
from tests.worker.conftest import WorkerProcess

from .test_engine import deliver, subjects
from .test_push import PUSHED_WITHIN, push_state, wait_until


@pytest.fixture
def mail_server(dovecot):
    dovecot.empty(ALEX)
    return dovecot


@pytest.fixture
def worker(app, mail_server, tmp_path):
    """Start a worker process on the test's database, reading mail from the test's Dovecot."""
    settings = {
        "MICROSOFT_IMAP_HOST": "localhost",
        "MICROSOFT_IMAP_PORT": str(mail_server.imaps_port),
        "MICROSOFT_IMAP_SECURITY": "tls",
        "MAIL_CA_FILE": str(mail_server.ca_file),
    }
    process = WorkerProcess(app, tmp_path / "worker.log", settings=settings)
    yield process
    process.stop()


def test_the_worker_process_pushes_a_delivered_message_into_the_database(app, mail_server, mailbox_id, worker):
    worker.wait_until_running()
    wait_until(lambda: (state := push_state(app, mailbox_id)) is not None and state.push_active, 20, "push on")
    # The first pass of the Inbox (right after IDLE starts) and the schedule's pass end first.
    wait_until(lambda: not push_state(app, mailbox_id).running and push_state(app, mailbox_id).succeeded_at, 20)
    time.sleep(0.5)

    deliver(mail_server, "Pushed by the worker")

    wait_until(lambda: subjects(app, mailbox_id) == ["Pushed by the worker"], PUSHED_WITHIN, "the push")
    started = time.monotonic()
    assert worker.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    state = push_state(app, mailbox_id)
    assert state.push_owner is None and not state.push_active
    assert "Traceback" not in worker.text()
