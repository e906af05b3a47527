"""Log records never carry a code, a token, a secret or a password."""

import logging
import re
import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import flask_migrate
import pytest
from gunicorn.config import Config as GunicornConfig

from oroflask.logs import LineFormatter, RedactingFilter, redact

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "line, secret",
    [
        ('"GET /oauth/microsoft/callback?code=0.AVYAabc-DEF_123&state=Xyz789&session_state=s1 HTTP/1.1" 200 -', "0.AVYAabc-DEF_123"),
        ('"GET /oauth/microsoft/callback?code=0.AVYAabc-DEF_123&state=Xyz789 HTTP/1.1" 200 -', "Xyz789"),
        ('{"access_token": "eyJ0eXAi.payload.sig", "token_type": "Bearer"}', "eyJ0eXAi.payload.sig"),
        ("refresh_token=M.R3_BAY.abc&client_secret=Dev8Q~value", "M.R3_BAY.abc"),
        ("refresh_token=M.R3_BAY.abc&client_secret=Dev8Q~value", "Dev8Q~value"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi.x.y"),
        ("password=correct horse", "correct"),
    ],
)
def test_redact_removes_the_secret(line, secret):
    assert secret not in redact(line)
    assert "[redacted]" in redact(line)


def test_redact_leaves_ordinary_text_alone():
    line = '"GET /admin/config/integrations/microsoft HTTP/1.1" 200 -'
    assert redact(line) == line


def test_the_development_server_request_line_is_redacted(app, caplog):
    logger = logging.getLogger("werkzeug")
    assert any(isinstance(existing, RedactingFilter) for existing in logger.filters)
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logger.info('%s - - [%s] %s', "127.0.0.1", "now", '"GET /oauth/microsoft/callback?code=SECRETCODE&state=S HTTP/1.1" 200 -')
    assert "SECRETCODE" not in caplog.text
    assert "/oauth/microsoft/callback?code=[redacted]" in caplog.text


@pytest.mark.parametrize(
    "line, secret",
    [
        # Authlib's DEBUG line, should its level ever be lowered.
        ("Using code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ("token endpoint answered eyJ0eXAiOiJKV1Qi.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
        ("stored gAAAAABnX2xVd0l2c3RhbmRhcmRfZmVybmV0X3Rva2VuX3ZhbHVl== for row 1", "gAAAAABnX2xVd0l2c3RhbmRhcmRfZmVybmV0X3Rva2VuX3ZhbHVl"),
        ("Authorization: Basic YWRtaW46aHVudGVyMg==", "YWRtaW46aHVudGVyMg=="),
        ("X-CSRFToken: IjQ5ZDM3YjE2.ZzE0Yg.abc", "IjQ5ZDM3YjE2.ZzE0Yg.abc"),
        ("client_assertion=eyJhbGc.x.y&grant_type=authorization_code", "eyJhbGc.x.y"),
        ("new_password=hunter2hunter2", "hunter2hunter2"),
        ('{"secret_key": "s3cr3t-value"}', "s3cr3t-value"),
    ],
)
def test_anything_shaped_like_a_token_is_redacted(line, secret):
    assert secret not in redact(line)
    assert "[redacted]" in redact(line)


@pytest.mark.parametrize(
    "line",
    [
        "The Microsoft connection of adele@contoso.onmicrosoft.com needs a reconnect: AADSTS70008",
        "error_code=AADSTS50011 trace_id=0c1d2e3f correlation_id=4a5b6c7d",
        '"POST /admin/config/integrations/microsoft/authorization HTTP/1.1" 200 1234',
    ],
)
def test_what_helps_support_is_kept(line):
    assert redact(line) == line


REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def test_every_answer_carries_a_request_id(client):
    first = client.get("/login").headers["X-Request-ID"]
    second = client.get("/login").headers["X-Request-ID"]
    assert REQUEST_ID.fullmatch(first) and REQUEST_ID.fullmatch(second)
    assert first != second


def test_the_proxy_request_id_is_kept_when_sane(client):
    given = "5f0c1a8e-32b1-4c3d-9e2f-0a1b2c3d4e5f"
    assert client.get("/login", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["two words", "a" * 129, "<script>", "id\\nINFO forged line"])
def test_a_request_id_that_is_not_sane_is_replaced(client, given):
    answered = client.get("/login", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert REQUEST_ID.fullmatch(answered)


def written_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_an_event_is_one_line_with_the_request_id(app, client, capsys):
    with app.app_context():
        flask_migrate.downgrade(revision="base")
    capsys.readouterr()
    response = client.get("/healthz", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 503
    [line] = written_lines(capsys)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} WARNING \[req-42\] oroflask: "
        r"Health check failed: the database did not answer \(\w+\)",
        line,
    )


@pytest.fixture
def failing_page(app):
    """A page whose view fails with a secret and a line break in its error message."""

    def fail():
        raise RuntimeError("refresh_token=M.R3_BAY.secret-value\nINFO [-] oroflask: a forged line")

    app.add_url_rule("/failing", "failing", fail)
    return "/failing"


def test_a_traceback_stays_on_one_line_and_redacted(failing_page, admin_client, capsys):
    capsys.readouterr()
    response = admin_client.get(failing_page)
    assert response.status_code == 500
    assert "M.R3_BAY" not in response.get_data(as_text=True)
    [line] = written_lines(capsys)
    request_id = response.headers["X-Request-ID"]
    assert line.split(" ", 3)[1:3] == ["ERROR", f"[{request_id}]"]
    assert "oroflask: Unhandled error on GET /failing\\nTraceback (most recent call last):" in line
    assert "RuntimeError: refresh_token=[redacted]\\nINFO [-] oroflask: a forged line" in line
    assert "M.R3_BAY" not in line


@pytest.mark.parametrize(
    "text, written",
    [
        ("NUL\x00", "NUL\\x00"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("DEL\x7f C1\x85\x9b", "DEL\\x7f C1\\x85\\x9b"),
        ("tab\there\rthere\nthere", "tab\\there\\rthere\\nthere"),
        ("form feed\x0c vertical tab\x0b", "form feed\\x0c vertical tab\\x0b"),
        ("line\u2028separator, override\u202egnp.exe", "line\\u2028separator, override\\u202egnp.exe"),
        ("surrogate\udcff", "surrogate\\udcff"),
        ("adèle@contoso.example 東京", "adèle@contoso.example 東京"),
    ],
)
def test_control_characters_are_written_as_escapes(text, written):
    record = logging.LogRecord("oroflask", logging.WARNING, __file__, 1, "Refused %s", (text,), None)
    line = LineFormatter().format(record)
    assert line.endswith(f"WARNING [-] oroflask: Refused {written}")
    assert line.isprintable()


@pytest.fixture
def failing_path(app):
    """Pages under /failing/ whose view fails with control characters in its error message."""

    def fail(rest):
        raise RuntimeError("bad value \x1b]0;owned\x07\x00")

    app.add_url_rule("/failing/<path:rest>", "failing", fail)


def test_control_characters_of_a_request_are_escaped_in_its_error_line(failing_path, admin_client, capsys):
    capsys.readouterr()
    assert admin_client.get("/failing/%1b[31m%00%C2%85").status_code == 500
    [line] = written_lines(capsys)
    assert line.isprintable()
    assert "Unhandled error on GET /failing/\\x1b[31m\\x00\\x85\\n" in line
    assert "RuntimeError: bad value \\x1b]0;owned\\x07\\x00" in line


@pytest.mark.app_config(LOG_LEVEL="ERROR")
def test_the_log_level_leaves_out_what_is_below_it(app, client, capsys):
    with app.app_context():
        flask_migrate.downgrade(revision="base")
    capsys.readouterr()
    assert client.get("/healthz").status_code == 503
    assert written_lines(capsys) == []


@pytest.mark.app_config(LOG_LEVEL="DEBUG")
def test_a_debug_level_does_not_reach_authlib(app):
    assert logging.getLogger("oroflask").level == logging.DEBUG
    assert logging.getLogger("authlib").getEffectiveLevel() == logging.INFO


@pytest.fixture
def gunicorn_logs(tmp_path):
    """gunicorn's logger as gunicorn.conf.py sets it up, writing into files; yield their folder."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    config = GunicornConfig()
    for name in ("access_log_format", "logger_class", "loglevel"):
        config.set(name, settings[name])
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("errorlog", str(tmp_path / "error.log"))
    logger = config.logger_class(config)
    yield logger, tmp_path
    for log in (logger.error_log, logger.access_log):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def test_gunicorn_error_lines_are_one_redacted_line(gunicorn_logs):
    logger, folder = gunicorn_logs
    try:
        raise ValueError("bad\nrequest")
    except ValueError:
        logger.exception("Error handling request %s", "/oauth/microsoft/callback?code=SECRETCODE&state=S1")
    [line] = (folder / "error.log").read_text().splitlines()
    assert " ERROR [-] gunicorn.error: Error handling request /oauth/microsoft/callback?code=[redacted]&state=[redacted]\\nTraceback" in line
    assert "SECRETCODE" not in line and "ValueError: bad\\nrequest" in line


def access(logger, path: str, status: str, query: str = "") -> None:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "RAW_URI": f"{path}?{query}",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": f"https://h{path}?{query}",
        "oroflask.request_id": "req-7",
    }  # fmt: skip
    response = SimpleNamespace(status=status, headers=[("X-Request-ID", "req-7")], sent=12)
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=5))


def test_gunicorn_access_lines_have_no_query_string_nor_referer(gunicorn_logs):
    logger, folder = gunicorn_logs
    access(logger, "/oauth/microsoft/callback", "200 OK", query="code=SECRETCODE&state=S1")
    [line] = (folder / "access.log").read_text().splitlines()
    assert ' INFO [req-7] gunicorn.access: 127.0.0.1 "GET /oauth/microsoft/callback HTTP/1.1" 200 12 5ms "-" <' in line
    assert "SECRETCODE" not in line and "S1" not in line


def test_successful_health_checks_are_not_in_the_access_log(gunicorn_logs):
    logger, folder = gunicorn_logs
    access(logger, "/healthz", "200 OK")
    access(logger, "/healthz", "503 SERVICE UNAVAILABLE")
    [line] = (folder / "access.log").read_text().splitlines()
    assert '"GET /healthz HTTP/1.1" 503' in line


def werkzeug_record(message: str, *args) -> logging.LogRecord:
    return logging.LogRecord("werkzeug", logging.INFO, __file__, 1, message, args, None)


def test_the_development_server_banner_is_plain_lines():
    banner = (
        "\x1b[31m\x1b[1mWARNING: This is a development server.\x1b[0m\n"
        " * Running on http://127.0.0.1:5099"
    )
    lines = LineFormatter().format(werkzeug_record(banner)).split("\n")
    assert [line.split(" werkzeug: ", 1)[1] for line in lines] == [
        "WARNING: This is a development server.",
        " * Running on http://127.0.0.1:5099",
    ]


def test_a_request_line_loses_its_colours_and_stays_one_line():
    record = werkzeug_record('%s - - [now] "%s" %s -', "127.0.0.1", "\x1b[33mGET /x\n * Running on http://evil\x1b[0m", "404")
    line = LineFormatter().format(record)
    assert line.endswith('werkzeug: 127.0.0.1 - - [now] "GET /x\\n * Running on http://evil" 404 -')
    assert "\n" not in line and "\x1b" not in line
