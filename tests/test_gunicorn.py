"""Production shape: gunicorn with gunicorn.conf.py and two workers, driven over real HTTP.

Nothing that matters lives in a worker's memory: the OAuth state, the authorization attempt and
the tokens survive every request landing on another worker process, and a restart of the whole
server between the redirect to Microsoft and Microsoft's answer. These tests start real servers
(a few seconds each) and run in every suite, on SQLite and on PostgreSQL.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from oroflask.devidp import create_app as create_identity_provider
from oroflask.devidp.directory import DEFAULT_CLIENT_ID, DEFAULT_CONFIG, DEFAULT_SECRET_VALUE, DEFAULT_TENANT_ID
from oroflask.devidp.testing import serve

from .conftest import ADMIN_EMAIL, PASSWORD, SETTINGS_PAGE

pytestmark = pytest.mark.gunicorn

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "adele@contoso.onmicrosoft.com"
START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """gunicorn serving wsgi:app with gunicorn.conf.py, as the README starts it, on a fixed port."""

    def __init__(self, port: int, environment: dict, logs: Path):
        self.base_url = f"http://127.0.0.1:{port}"
        self.port = port
        self.environment = environment
        self.logs = logs
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        # --max-requests 1: each worker serves one request and is replaced by a fresh process, so
        # every step of a flow lands on a process that has seen none of the steps before it.
        command = [
            sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
            "--workers", "2", "--max-requests", "1", "--max-requests-jitter", "0",
            "--bind", f"127.0.0.1:{self.port}",
            "--access-logfile", str(self.logs / "access.log"),
            "--error-logfile", str(self.logs / "error.log"),
            "wsgi:app",
        ]  # fmt: skip
        with open(self.logs / "output.log", "ab") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.environment, stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self.process.poll() is None, self.log("output.log") + self.log("error.log")
            try:
                if requests.get(self.base_url + "/healthz", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start:\n" + self.log("error.log")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=START_SECONDS)
        self.process = None

    def log(self, name: str) -> str:
        path = self.logs / name
        return path.read_text() if path.exists() else ""


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def identity_provider(port):
    """The local identity provider, with the Redirect URI of the server registered."""
    redirect_uri = f"http://127.0.0.1:{port}/oauth/microsoft/callback"
    clients = [{**client, "redirect_uris": [redirect_uri]} for client in DEFAULT_CONFIG["clients"]]
    with serve(create_identity_provider({"clients": clients})) as base_url:
        yield base_url


@pytest.fixture
def server(app, config, admin, port, identity_provider, tmp_path):
    """gunicorn on the test's database, with an instance folder of its own (keys generated there)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OROFLASK_")}
    environment.update(
        OROFLASK_INSTANCE_PATH=str(tmp_path / "server-instance"),
        OROFLASK_SQLALCHEMY_DATABASE_URI=config["SQLALCHEMY_DATABASE_URI"],
        OROFLASK_SQLALCHEMY_ENGINE_OPTIONS=json.dumps(config.get("SQLALCHEMY_ENGINE_OPTIONS", {})),
        OROFLASK_MICROSOFT_AUTHORITY=identity_provider,
        OROFLASK_MICROSOFT_CLIENT_ID=DEFAULT_CLIENT_ID,
        OROFLASK_MICROSOFT_CLIENT_SECRET=DEFAULT_SECRET_VALUE,
        OROFLASK_MICROSOFT_TENANT=DEFAULT_TENANT_ID,
        OROFLASK_MICROSOFT_HTTP_TIMEOUT="[3, 10]",
    )
    server = Gunicorn(port, environment, logs)
    server.start()
    yield server
    server.stop()


def hidden_token(page: str, pattern: str) -> str:
    match = re.search(pattern, page)
    assert match, page
    return match.group(1)


class Browser:
    """An administrator's browser: a requests session that sends what the page's htmx sends."""

    def __init__(self, server: Gunicorn):
        self.server = server
        self.session = requests.Session()
        self.request_ids: list[str] = []

    def get(self, path: str, **headers) -> requests.Response:
        return self._remember(self.session.get(self.url(path), headers=headers, allow_redirects=False, timeout=30))

    def post(self, path: str, data: dict | None = None, **headers) -> requests.Response:
        return self._remember(
            self.session.post(self.url(path), data=data, headers=headers, allow_redirects=False, timeout=30)
        )

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.server.base_url + path

    def htmx(self) -> dict:
        page = self.get(SETTINGS_PAGE).text
        token = hidden_token(page, r'"X-CSRFToken": "([^"]+)"')
        return {"HX-Request": "true", "HX-Current-URL": self.url(SETTINGS_PAGE), "X-CSRFToken": token}

    def sign_in(self) -> None:
        token = hidden_token(self.get("/login").text, r'name="csrf_token" type="hidden" value="([^"]+)"')
        response = self.post("/login", {"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.text

    def _remember(self, response: requests.Response) -> requests.Response:
        self.request_ids.append(response.headers["X-Request-ID"])
        return response


def access_lines(server: Gunicorn) -> list[str]:
    return server.log("access.log").splitlines()


def test_enable_survives_other_workers_and_a_restart(server, identity_provider):
    browser = Browser(server)
    browser.sign_in()

    # Behind no configured proxy, a forwarded scheme changes nothing (gunicorn's own handling is off).
    page = browser.get(SETTINGS_PAGE, **{"X-Forwarded-Proto": "https"}).text
    assert f'value="{server.base_url}/oauth/microsoft/callback"' in page

    started = browser.post(SETTINGS_PAGE + "/authorization", **browser.htmx())
    assert started.status_code == 200, started.text
    begin_url = json.loads(started.headers["HX-Trigger"])["authorization-started"]["url"]
    status_url = hidden_token(started.text, r'hx-get="([^"]+)"')
    to_microsoft = browser.get(begin_url)
    assert to_microsoft.status_code == 302
    answer = requests.post(
        f"{identity_provider}/_devidp/approve",
        json={"authorize_url": to_microsoft.headers["Location"], "action": "accept"},
        timeout=10,
    )
    callback = answer.json()["location"]
    assert callback.startswith(f"{server.base_url}/oauth/microsoft/callback?code=")

    # The whole server restarts while the administrator is at Microsoft.
    server.stop()
    server.start()

    popup = browser.get(callback)
    assert popup.status_code == 200, popup.text
    assert f"Authorization succeeded: connected as {ACCOUNT}" in popup.text
    status = browser.get(status_url, **browser.htmx())
    assert f"Authorization succeeded: connected as {ACCOUNT}" in status.text
    assert f"Connected as <strong>{ACCOUNT}</strong>" in browser.get(SETTINGS_PAGE).text

    # Workers write the access line after the answer: stopping the server lets them finish.
    server.stop()
    lines = access_lines(server)
    assert len(lines) == len(browser.request_ids)
    # Every request was served by a process that had served none before it.
    pids = [line.rsplit(" ", 1)[1] for line in lines]
    assert len(set(pids)) == len(pids)
    # One line per request, with its request id and without the query string of the callback.
    for request_id in browser.request_ids:
        assert sum(f"[{request_id}]" in line for line in lines) == 1
    [callback_line] = [line for line in lines if "/oauth/microsoft/callback" in line]
    assert f'[{popup.headers["X-Request-ID"]}] gunicorn.access: 127.0.0.1 "GET /oauth/microsoft/callback HTTP/1.1" 200' in callback_line
    # The application's own line about the same request carries the same id.
    assert f'INFO [{popup.headers["X-Request-ID"]}] oroflask: Microsoft connected as {ACCOUNT}' in server.log("output.log")
    assert "code=" not in server.log("access.log") and "state=" not in server.log("access.log")
    # The load balancer's questions are not in the access log; nothing failed.
    assert "/healthz" not in server.log("access.log")
    assert "Traceback" not in server.log("error.log")


def test_workers_share_the_keys_they_generate(server):
    """Keys generated at the first start are shared by every worker and kept across restarts."""
    instance = Path(server.environment["OROFLASK_INSTANCE_PATH"])
    keys = (instance / "secret_key").read_text(), (instance / "encryption.keys").read_text()
    browser = Browser(server)
    browser.sign_in()
    server.stop()
    server.start()
    assert browser.get(SETTINGS_PAGE).status_code == 200
    assert ((instance / "secret_key").read_text(), (instance / "encryption.keys").read_text()) == keys


def test_control_characters_are_escaped_in_the_access_line(server):
    response = requests.get(
        server.base_url + "/%1b[2J%1b[31mred%00%7f",
        headers={"User-Agent": "agent\x85\x9b31m"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code in (302, 404)
    server.stop()
    [line] = [line for line in access_lines(server) if f"[{response.headers['X-Request-ID']}]" in line]
    assert line.isprintable()
    assert '"GET /\\x1b[2J\\x1b[31mred\\x00\\x7f HTTP/1.1"' in line
    assert '"agent\\x85\\x9b31m"' in line
