"""Logging that never carries a secret: values of sensitive parameters are redacted."""

import logging
import re

from flask import Flask

SENSITIVE = (
    "code",
    "state",
    "session_state",
    "nonce",
    "code_verifier",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "csrf_token",
)
_PARAMETER = re.compile(r"(?i)\b(" + "|".join(SENSITIVE) + r")(=|\"?\s*:\s*\"?)([^&\s\"',;]+)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """Return `text` with the values of sensitive parameters and bearer tokens replaced."""
    return _BEARER.sub(r"\1[redacted]", _PARAMETER.sub(r"\1\2[redacted]", text))


class RedactingFilter(logging.Filter):
    """Rewrite each record's message with `redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def init_app(app: Flask) -> None:
    """Redact the application's and the development server's log records (request lines carry
    the OAuth callback's code and state in their query string)."""
    for logger in (app.logger, logging.getLogger("werkzeug"), logging.getLogger("oroflask")):
        if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
            logger.addFilter(RedactingFilter())
