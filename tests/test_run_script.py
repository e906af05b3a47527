"""scripts/run as a newcomer starts it: the address to open stands plainly in its output."""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from .test_gunicorn import free_port

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 60


def test_the_address_is_printed_plainly(tmp_path):
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OROFLASK_")}
    environment.update(HOST="127.0.0.1", PORT=str(port), OROFLASK_INSTANCE_PATH=str(tmp_path / "instance"))
    output = tmp_path / "output.log"
    with open(output, "wb") as written:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")], cwd=ROOT, env=environment, stdout=written, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while "Press CTRL+C to quit" not in output.read_text():
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "scripts/run did not start:\n" + output.read_text()
            time.sleep(0.1)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=START_SECONDS)

    lines = output.read_text().splitlines()
    assert f"  oroflask: open http://127.0.0.1:{port} in a browser (Ctrl+C stops the server)" in lines
    assert any(line.endswith(f" werkzeug:  * Running on http://127.0.0.1:{port}") for line in lines), lines
    assert not any("\x1b" in line or "\\n" in line for line in lines), lines


def children(pid: int) -> set[int]:
    """Return the ids of the processes that `pid` started and that still run."""
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_worker_runs_beside_the_web_app_and_ctrl_c_stops_both(tmp_path):
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OROFLASK_")}
    environment.update(HOST="127.0.0.1", PORT=str(port), OROFLASK_INSTANCE_PATH=str(tmp_path / "instance"))
    output = tmp_path / "output.log"
    with open(output, "wb") as written:
        # A session of its own, as a terminal's foreground job: Ctrl+C reaches all of its processes.
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=written,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while "Press CTRL+C to quit" not in output.read_text() or "oroflask: the worker runs" not in output.read_text():
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "scripts/run did not start:\n" + output.read_text()
            time.sleep(0.1)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        started = children(process.pid)
        assert len(started) == 2, started

        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert not any(running(pid) for pid in started), output.read_text()
    lines = output.read_text().splitlines()
    worker_lines = [line for line in lines if "oroflask: the worker runs" in line]
    assert worker_lines == [
        f"  oroflask: the worker runs (2 thread workers, the SQLite queue {tmp_path / 'instance' / 'queue.sqlite'})"
    ], lines
    assert (tmp_path / "instance" / "queue.sqlite").exists()
