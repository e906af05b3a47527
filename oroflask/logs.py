"""Logging: one line per event with the request's id, and never a secret (redacted before writing).

The application's and the development server's records go through `LineFormatter`; gunicorn's
error and access logs do too when it runs with gunicorn.conf.py (`GunicornLogger`).
"""

import logging
import re
import secrets
import sys

from flask import Flask, Response, has_request_context, request
from gunicorn import glogging

# Parameter names whose values are secrets: anything ending in token, secret or password, and the
# OAuth parameters that are as good as one (a code, its PKCE verifier, the state, the nonce).
_SECRET_NAMES = (
    r"[\w-]*(?:token|secret|password|passwd)",
    "code",
    "code_verifier",
    "state",
    "session_state",
    "nonce",
    "assertion",
    "client_assertion",
    "encryption_keys",
    "secret_key",
)
_PARAMETER = re.compile(
    r"(?i)\b(" + "|".join(_SECRET_NAMES) + r")(=|[\"']?\s*:\s*[\"']?)([^&\s\"',;]+)"
)
# Values that are secrets whatever they are called: credentials of an Authorization header,
# JWTs (access and id tokens) and Fernet tokens (the encrypted columns).
_AUTHORIZATION = re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+")
# The SASL XOAUTH2 sign-in of IMAP and SMTP, "user=...\x01auth=Bearer <token>\x01\x01": its token
# part (raw, or as repr() writes it) and the whole of it base64-encoded, as it goes on the wire.
_XOAUTH2 = re.compile(r"(?i)auth=Bearer\s+[^\s\x01'\"\\]+")
_XOAUTH2_ENCODED = re.compile(r"\bdXNlcj[A-Za-z0-9+/]{10,}={0,2}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_FERNET = re.compile(r"\bgAAAAA[A-Za-z0-9_-]{20,}={0,2}")
REDACTED = "[redacted]"

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = "oroflask.request_id"
# What a proxy's request id may look like (nginx's $request_id, a UUID); anything else is replaced,
# so that a client cannot write what it likes into the log.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Terminal colours: the development server paints its lines with them, which a log file or a
# terminal that is not one shows as garbage.
_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")
# The development server's start-up message: several lines of its own, none of them typed by a user.
_SERVER_BANNER = " * Running on "

LINE_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
HEALTH_CHECK_PATH = "/healthz"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Return `text` with `secrets`, sensitive parameters' values and anything shaped like a token replaced."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _XOAUTH2.sub(REDACTED, text)
    text = _XOAUTH2_ENCODED.sub(REDACTED, text)
    text = _PARAMETER.sub(r"\1\2" + REDACTED, text)
    text = _AUTHORIZATION.sub(r"\1" + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _FERNET.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrite each record's message and traceback with `redact` before any handler sees them.

    A record may name the secrets it must not show, in any form, as `extra={"secrets": (...)}`:
    a token that has no shape of its own (opaque) is then found wherever it is quoted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(secret for secret in getattr(record, "secrets", ()) if secret)
        message = record.getMessage()
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            # Formatters use the traceback as written here instead of writing their own.
            record.exc_text = _TRACEBACK.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


_TRACEBACK = logging.Formatter()


def request_id() -> str:
    """Return the current request's id: the proxy's X-Request-ID when it looks sane, else a new one."""
    environ = request.environ
    if _REQUEST_ID_KEY not in environ:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        environ[_REQUEST_ID_KEY] = given if _SANE_REQUEST_ID.fullmatch(given) else secrets.token_hex(16)
    return environ[_REQUEST_ID_KEY]


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(character: str) -> str:
    if character in _ESCAPES:
        return _ESCAPES[character]
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape_controls(text: str) -> str:
    """Return `text` with every character that is not printable written as a Python escape.

    Not printable: control characters (C0 such as NUL and ESC, DEL, C1), line and paragraph
    separators, spaces other than the plain one, format characters such as bidirectional
    overrides, lone surrogates.
    """
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else _escape(character) for character in text)


class LineFormatter(logging.Formatter):
    """Format a record as one line (time, level, request id, logger, message), redacted.

    Line breaks, of a traceback or of a value a user typed, are written as \\n, and every other
    control character as an escape (ESC as \\x1b), so that every event stays on one line and no
    one can forge a second one or send a terminal escape sequence to whoever reads the log. The
    development server's start-up message is the exception: each of its lines is a line of its
    own, so that the address the server listens on reads plainly.
    """

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT, TIME_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", None):
            record.request_id = request_id() if has_request_context() else "-"
        if _is_server_banner(record):
            lines = record.getMessage().splitlines()
            return "\n".join(self._line(logging.makeLogRecord({**record.__dict__, "msg": text})) for text in lines)
        return self._line(record)

    def _line(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        if record.name == "werkzeug":
            # The development server colours its lines: the colours are dropped before the
            # escaping, which would write them out as text. Elsewhere an escape is kept, escaped.
            line = _TERMINAL_STYLE.sub("", line)
        return escape_controls(line)


def _is_server_banner(record: logging.LogRecord) -> bool:
    # werkzeug logs its request lines with arguments; the start-up message has none.
    return record.name == "werkzeug" and not record.args and _SERVER_BANNER in str(record.msg)


class _StandardError:
    """sys.stderr as it is when written to (a test runner or a daemon may replace it)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_handler = logging.StreamHandler(_StandardError())
_handler.setFormatter(LineFormatter())


def init_app(app: Flask) -> None:
    """Write the application's and the development server's records as redacted lines at LOG_LEVEL,
    and give every request an id (answered in X-Request-ID)."""
    application_logger = logging.getLogger(app.name)
    # Added before app.logger is first used, so that Flask does not add its own handler too.
    for logger in (application_logger, logging.getLogger("werkzeug")):
        write_as_lines(logger)
    # Only oroflask's own logger: Authlib's keeps the INFO level identity.py gives it (Authlib
    # logs the PKCE code verifier at DEBUG).
    application_logger.setLevel(app.config["LOG_LEVEL"])
    app.after_request(_answer_request_id)


def write_as_lines(logger: logging.Logger) -> None:
    """Write this logger's records as oroflask writes its own: one redacted line each."""
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
    # On the logger as well as in the formatter, so that other handlers get redacted records.
    if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
        logger.addFilter(RedactingFilter())


def _answer_request_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


class GunicornLogger(glogging.Logger):
    """gunicorn's error and access logs as oroflask writes its own: one redacted line per event.

    The access line carries the request id of the application's log lines; successful health
    checks are left out, as a load balancer asks every few seconds.
    """

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(LineFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        if environ.get("PATH_INFO") == HEALTH_CHECK_PATH and str(resp.status).startswith("200"):
            return
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        self.access_log.info(
            self.cfg.access_log_format, atoms, extra={"request_id": environ.get(_REQUEST_ID_KEY, "-")}
        )
