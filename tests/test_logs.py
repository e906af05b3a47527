"""Log records never carry a code, a token, a secret or a password."""

import logging

import pytest

from oroflask.logs import RedactingFilter, redact


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
