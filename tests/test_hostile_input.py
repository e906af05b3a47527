"""Hostile input on every endpoint: never a 5xx, never a traceback in the log, nothing half-saved.

Hypothesis sends each endpoint of the application's URL map (so an endpoint added later is
covered too) hostile paths, query strings, bodies, content types, methods and headers, as an
anonymous visitor before and after the first administrator exists, and as a signed-in
administrator. The profile chooses how many requests: "ci" (the default) a few hundred,
"thorough" thousands (scripts/hostile-input runs it and prints what was sent and answered).
"""

import json
import logging
import os
import re
import secrets
import socket
import tempfile
from collections import Counter, defaultdict
from urllib.parse import quote, quote_from_bytes

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wtforms.fields.core import UnboundField

from oroflask import create_app
from oroflask.auth import service as accounts
from oroflask.auth.models import User, UserSession
from oroflask.connection.models import AuthorizationAttempt
from oroflask.extensions import db
from oroflask.forms import CONTROL_CHARACTER
from oroflask.logs import LineFormatter
from oroflask.mailboxes.models import SYSTEM, Mailbox
from oroflask.audit.models import AuditEvent
from oroflask.settings.models import MicrosoftSettings

from .conftest import (
    ADMIN_EMAIL,
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULTS,
    PASSWORD,
    SETTINGS_PAGE,
    TENANT,
    csrf_token,
    sign_in,
)

_PROFILE = dict(
    deadline=None,
    database=None,  # nothing written into the repository; a failure prints its example
    suppress_health_check=[
        # The application is built once per test function and reset cheaply between examples.
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
settings.register_profile("ci", max_examples=12, **_PROFILE)
settings.register_profile("thorough", max_examples=150, **_PROFILE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Where scripts/hostile-input asks for the requests sent and the statuses seen, as JSON.
REPORT_FILE = os.environ.get("HOSTILE_INPUT_REPORT")
SENT: dict[str, Counter] = defaultdict(Counter)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Microsoft is a closed loopback port: Enable and Verify run up to the call and are refused at once.
pytestmark = pytest.mark.app_config(
    MICROSOFT_AUTHORITY=f"http://127.0.0.1:{closed_port()}",
    MICROSOFT_HTTP_TIMEOUT=(0.5, 0.5),
    **DEFAULTS,
)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if REPORT_FILE:
        with open(REPORT_FILE, "w") as file:
            json.dump({key: dict(statuses) for key, statuses in SENT.items()}, file)


# --- What is sent -----------------------------------------------------------------------------

NASTY_TEXT = [
    "", " ", "\x00", "a\x00b", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "\x7f", "\x85", "\x9b2J",
    "\r\n", "line\nINFO [-] oroflask: forged", "\t", "\u2028", "\u202egnp.exe", "\ufeff", "\u200b",
    "\ufffd", "\U0001f600", "é", "東京", "http://[", "http://[::1", "//evil.example", "/\\evil.example",
    "/%0aX", "/\nX", "javascript:alert(1)", "<script>alert(1)</script>", "'\"><svg onload=alert(1)>",
    "{{7*7}}", "${7*7}", "' OR 1=1 --", "%00", "%", "%zz", "..%2f..%2f", "../../etc/passwd",
    "[" * 50, "{}", "null", "true", "-1", "0", "1e309", "2030-01-01", "1999-12-31", "2030-02-30",
    CLIENT_ID, CLIENT_SECRET, TENANT, "common", "consumers", "organizations", ADMIN_EMAIL, PASSWORD, "y",
]  # fmt: skip
CONTROLS = ["\x00", "\x01", "\x08", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u202e"]
NASTY_BYTES = [b"\xff\xfe", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc3\x28", b"\xc0\xaf", b"\x00", b"\xf4\x90\x80\x80"]
QUERY_NAMES = ["next", "code", "state", "error", "error_description", "error_uri", "session_state", "window", "admin_consent"]
BODY_KINDS = [
    "urlencoded", "urlencoded", "urlencoded", "raw urlencoded", "multipart", "multipart",
    "files", "json", "nested", "other", "empty",
]  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-16", "text/plain", "application/xml", "text/html",
    "application/x-www-form-urlencoded; charset=latin-1", "application/x-www-form-urlencoded; charset=utf-16",
    "multipart/form-data", "multipart/form-data; boundary=", "multipart/mixed; boundary=hostile",
    "application/octet-stream", "garbage", "*/*", "application/x-www-form-urlencoded, application/json",
]  # fmt: skip
ODD_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND", "CONNECT"]
HOSTS = ["localhost", "evil.example", "localhost:99999", "[", "[::1]", "a b", "localhost\x00", "ÿ", "", "x" * 300]

text = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=40),
    st.builds("".join, st.tuples(st.text(max_size=10), st.sampled_from(NASTY_TEXT), st.text(max_size=10))),
    st.builds("".join, st.tuples(st.sampled_from(NASTY_TEXT), st.sampled_from(CONTROLS), st.text(max_size=5))),
)
huge_text = st.sampled_from([300, 5000, 70_000]).map(lambda size: "a" * size)


def encoded(value: str, codec: str) -> bytes:
    return value.encode(codec, "replace")


value_bytes = st.one_of(
    st.builds(encoded, text, st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16", "cp1252"])),
    st.sampled_from(NASTY_BYTES),
    st.binary(max_size=30),
)
header_text = st.one_of(
    st.sampled_from([value for value in NASTY_TEXT if "\r" not in value and "\n" not in value]),
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60),
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def form_field_names() -> list[str]:
    """Return the names of the fields of every form the application has (imported with it)."""
    names = {"csrf_token"}
    pending = [FlaskForm]
    while pending:
        form_class = pending.pop()
        pending.extend(form_class.__subclasses__())
        names.update(name for name in dir(form_class) if isinstance(getattr(form_class, name, None), UnboundField))
    return sorted(names)


def urlencoded(fields: list[tuple[bytes, bytes]], percent: bool) -> bytes:
    if percent:
        fields = [(quote_from_bytes(name).encode(), quote_from_bytes(value).encode()) for name, value in fields]
    return b"&".join(name + b"=" + value for name, value in fields)


def multipart(fields: list[tuple[bytes, bytes]], files: list[tuple[bytes, bytes]], boundary: bytes) -> bytes:
    parts = [
        b'Content-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value for name, value in fields
    ] + [
        b'Content-Disposition: form-data; name="' + name + b'"; filename="f.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + value
        for name, value in files
    ]
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + boundary + b"--\r\n"


@st.composite
def mostly(draw, usual, other):
    """Draw from `usual` four times in five, else from `other`."""
    return draw(usual if draw(st.integers(0, 4)) else other)


# What a user would type into the fields of the forms: a form of these with a few values made
# hostile gets past the first checks to where the values are used.
PLAUSIBLE = {
    "email": ADMIN_EMAIL, "password": PASSWORD, "password_confirm": PASSWORD, "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET, "tenant": TENANT, "client_secret_expires_on": "2030-01-01",
    "address": "sales@contoso.onmicrosoft.com", "label": "Sales",
}  # fmt: skip


@st.composite
def bodies(draw, field_names: list[str], token: str, plausible: dict[str, str]):
    """Return (content type or None, body bytes): forms, multipart with files, JSON, other types."""
    fields = []
    for name in field_names:
        if name != "csrf_token" and draw(st.integers(0, 3)):
            hostile = draw(st.booleans())
            fields.append((name.encode(), draw(value_bytes) if hostile else plausible.get(name, "y").encode()))
    names = text.map(lambda name: name.encode("utf-8", "replace"))
    fields += draw(st.lists(st.tuples(names, value_bytes), max_size=2))
    # Now and then a field too long for its form or for the whole request (413); not more often,
    # as the rest of the request then goes unread.
    if draw(st.integers(0, 9)) == 0:
        fields.append((draw(st.sampled_from(field_names)).encode(), draw(huge_text).encode()))
    fields = draw(st.permutations(fields))
    csrf = draw(st.sampled_from(["valid", "valid", "valid", "hostile", "absent"]))
    if csrf == "valid":
        fields.append((b"csrf_token", token.encode()))
    elif csrf == "hostile":
        fields.append((b"csrf_token", draw(value_bytes)))
    kind = draw(st.sampled_from(BODY_KINDS))
    if kind in ("urlencoded", "raw urlencoded"):
        return "application/x-www-form-urlencoded", urlencoded(fields, percent=kind == "urlencoded")
    if kind in ("multipart", "files"):
        file_names = st.sampled_from(field_names).map(str.encode)
        files = draw(st.lists(st.tuples(file_names, value_bytes), min_size=1, max_size=3)) if kind == "files" else []
        charset = draw(st.sampled_from(["", "; charset=utf-8", "; charset=latin-1", "; charset=bogus"]))
        return "multipart/form-data; boundary=hostile" + charset, multipart(fields, files, b"hostile")
    if kind == "json":
        names = mostly(st.sampled_from(field_names), text)
        document = draw(mostly(st.dictionaries(names, json_value, max_size=8), json_value))
        return "application/json", json.dumps(document).encode()
    if kind == "nested":
        depth = draw(st.sampled_from([100, 1000, 3000, 20_000]))
        return "application/json", (b"[" * depth + b"]" * draw(st.sampled_from([0, depth])))
    if kind == "other":
        return draw(st.sampled_from(CONTENT_TYPES)), urlencoded(fields, percent=True) or draw(st.binary(max_size=50))
    return draw(st.sampled_from([None, "application/x-www-form-urlencoded", "application/json"])), b""


# Addresses where a URL is expected (next, HX-Current-URL): malformed, foreign, with controls.
NASTY_URLS = [
    "http://[", "http://[::1", "//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)",
    "/\nX", "/\x1b[31m", "/\x00", "/\x7f", "/ok?a=1#b", f"http://localhost{SETTINGS_PAGE}", "http://localhost:99999/",
    "", " /", "/" + "a" * 3000, "/é/東京",
]  # fmt: skip


@st.composite
def query_strings(draw) -> str:
    """Return a query string: each parameter an OAuth or login one, or not, with hostile values."""
    values = mostly(
        st.sampled_from(NASTY_URLS).map(lambda value: quote(value, safe=":/")),
        st.one_of(
            text.map(lambda value: quote(value, safe="")),
            st.binary(max_size=20).map(lambda value: quote_from_bytes(value, safe="")),
            st.sampled_from(["%", "%zz", "%ff%fe", "%ed%a0%80", "&&==", "%00", "a" * 3000]),
        ),
    )
    pairs = [(name, draw(values)) for name in QUERY_NAMES if draw(st.booleans())]
    pairs += draw(st.lists(st.tuples(text.map(lambda name: quote(name, safe="")), values), max_size=2))
    return "&".join(f"{name}={value}" for name, value in draw(st.permutations(pairs)))


@st.composite
def headers(draw, token: str) -> dict:
    sent = {}
    if draw(st.booleans()):
        sent["HX-Request"] = draw(mostly(st.just("true"), st.sampled_from(["false", "TRUE", "", "1"]) | header_text))
        # htmx sends the address of the page along.
        if draw(st.integers(0, 3)):
            sent["HX-Current-URL"] = draw(mostly(st.sampled_from(NASTY_URLS), header_text))
    csrf = draw(st.sampled_from(["valid", "valid", "hostile", "absent"]))
    if csrf != "absent":
        sent["X-CSRFToken"] = token if csrf == "valid" else draw(header_text)
    optional = {
        "HX-Trigger": header_text,
        "HX-Target": header_text,
        "HX-History-Restore-Request": st.sampled_from(["true", "false"]) | header_text,
        "Host": st.sampled_from(HOSTS) | header_text,
        "X-Request-ID": header_text,
        "X-Forwarded-For": header_text,
        "X-Forwarded-Proto": st.sampled_from(["https", "http", "gopher"]) | header_text,
        "Accept": header_text,
        "Origin": st.sampled_from(["null", "http://evil.example"]) | header_text,
        "Referer": header_text,
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), max_size=4, unique=True)):
        sent[name] = draw(optional[name])
    return {name: value for name, value in sent.items() if "\r" not in value and "\n" not in value}


ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@st.composite
def paths(draw, rule, real_values: dict[str, list[str]]) -> str:
    """Return the rule's path with each argument a real value or hostile text, percent-encoded."""

    def argument(match: re.Match) -> str:
        real = real_values.get(match.group(1), [])
        if real and draw(st.integers(0, 2)):
            return draw(st.sampled_from(real))
        hostile = text.map(lambda value: quote(value, safe=""))
        return draw(hostile | st.binary(max_size=20).map(lambda value: quote_from_bytes(value, safe="")))

    return ARGUMENT.sub(argument, rule.rule)


# --- What is checked ----------------------------------------------------------------------------


class Tracebacks(logging.Handler):
    """Collect the records that carry a traceback or report an unhandled error, and the lines
    that would reach the log with a control character."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(LineFormatter())
        self.records: list[logging.LogRecord] = []
        self.unescaped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Unhandled error" in record.getMessage():
            self.records.append(record)
        line = self.format(record)
        if not line.isprintable():
            self.unescaped.append(line)


@pytest.fixture
def tracebacks():
    handler = Tracebacks()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def stored(app) -> dict:
    """Return what a refused request must leave as it was: the settings row, its record, accounts."""
    with app.app_context():
        settings = db.session.get(MicrosoftSettings, 1)
        row = None
        if settings is not None:
            row = (
                settings.client_id,
                settings.client_secret_encrypted,
                settings.tenant,
                settings.client_secret_expires_on,
            )
        changes = db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one()
        accounts_query = db.select(User.id, User.email, User.role, User.password_hash).order_by(User.id)
        users = db.session.execute(accounts_query).all()
        return {"settings": row, "changes": changes, "users": [tuple(user) for user in users]}


def assert_text_is_clean(state: dict) -> None:
    client_id, _, tenant, _ = state["settings"] or (None, None, None, None)
    for value in (client_id, tenant, *(email for _, email, _, _ in state["users"])):
        assert value is None or not CONTROL_CHARACTER.search(value), f"stored with a control character: {value!r}"


class Hostile:
    """Sends one hostile request after another to one endpoint as one visitor, and checks each answer."""

    def __init__(self, app, who: str, session_cookie: str | None, token: str, tracebacks: Tracebacks):
        self.app = app
        self.who = who
        self.session_cookie = session_cookie
        self.token = token
        self.tracebacks = tracebacks
        self.field_names = form_field_names()
        self.plausible = PLAUSIBLE

    def client(self):
        # A fresh client per request, with the visitor's session: a request that signed in or
        # out, or changed the session otherwise, does not carry over to the next.
        client = self.app.test_client()
        if self.session_cookie:
            client.set_cookie("session", self.session_cookie)
        return client

    def send(self, data, endpoint: str, rule_path: str, real_values: dict[str, list[str]]) -> int:
        [rule] = [rule for rule in self.app.url_map.iter_rules() if (rule.endpoint, rule.rule) == (endpoint, rule_path)]
        usual = sorted(rule.methods - {"HEAD", "OPTIONS"})
        # A form's POST reads the most of what is sent.
        usual_method = mostly(st.just("POST"), st.sampled_from(usual)) if "POST" in usual else st.sampled_from(usual)
        method = data.draw(mostly(usual_method, st.sampled_from(ODD_METHODS)), label="method")
        path = data.draw(paths(rule, real_values), label="path")
        query = data.draw(query_strings(), label="query")
        content_type, body = data.draw(bodies(self.field_names, self.token, self.plausible), label="body")
        sent_headers = data.draw(headers(self.token), label="headers")

        before = stored(self.app)
        response = self.client().open(
            path, method=method, query_string=query, data=body, content_type=content_type, headers=sent_headers
        )
        status = response.status_code
        response.close()
        SENT[f"{self.who} {method if method in usual else 'other'} {rule.rule}"][status] += 1
        after = stored(self.app)

        assert status < 500, f"{status} for {method} {path}?{query}"
        assert not self.tracebacks.records, self.tracebacks.records[0].getMessage()
        assert not self.tracebacks.unescaped, self.tracebacks.unescaped[0]
        if status >= 400:
            assert after == before, "a refused request changed what is stored"
        assert_text_is_clean(after)
        return status


def discovered_endpoints() -> list[tuple[str, str]]:
    """Return (endpoint, rule) of every URL of the application but its static files."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {"TESTING": True, "INSTANCE_PATH": instance, "SECRET_KEY": "-", "SQLALCHEMY_DATABASE_URI": "sqlite://"},
            migrations=False,
        )
    return sorted((rule.endpoint, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static")


# Read once at collection, so that each endpoint is a test of its own and one added later is too.
ALL_ENDPOINTS = discovered_endpoints()
ENDPOINTS = pytest.mark.parametrize("endpoint, rule", ALL_ENDPOINTS, ids=lambda value: value)
SETUP_PAGE = [(endpoint, rule) for endpoint, rule in ALL_ENDPOINTS if endpoint == "auth.setup"]


def real_ids(app, admin_id: int) -> dict[str, list[str]]:
    """Create an authorization attempt of the administrator; return real values of path arguments
    (its sessions' ids too)."""
    attempt_id = secrets.token_urlsafe(16)
    with app.app_context():
        db.session.add(
            AuthorizationAttempt(
                id=attempt_id, user_id=admin_id, client_id=CLIENT_ID, tenant=TENANT,
                redirect_uri="http://localhost/oauth/microsoft/callback",
            )
        )  # fmt: skip
        db.session.commit()
        mailbox = Mailbox(kind=SYSTEM, address="support@contoso.onmicrosoft.com", label="Support")
        db.session.add(mailbox)
        db.session.commit()
        session_ids = db.session.execute(
            db.select(UserSession.id).where(UserSession.user_id == admin_id)
        ).scalars()
        known_sessions = [str(session_id) for session_id in session_ids]
    return {
        "attempt_id": [attempt_id, "AAAAAAAAAAAAAAAAAAAAAA"],
        "session_id": [*known_sessions, "0", "999999"],
        "mailbox_id": [str(mailbox.id), "0", "999999"],
        "name": ["client_id", "client_secret", "tenant", "client_secret_expires_on", "nothing"],
    }


def admin_id(app) -> int:
    with app.app_context():
        return db.session.execute(db.select(User.id).where(User.email == ADMIN_EMAIL)).scalar_one()


@pytest.fixture(params=["anonymous", "admin"])
def visitor(request, app, client, admin, tracebacks):
    """A visitor of a site that has its administrator: anonymous, or signed in as the admin."""
    if request.param == "admin":
        assert sign_in(client, admin).status_code == 302
    token = csrf_token(client, SETTINGS_PAGE if request.param == "admin" else "/login")
    cookie = client.get_cookie("session")
    hostile = Hostile(app, request.param, cookie.value if cookie else None, token, tracebacks)
    return hostile, real_ids(app, admin_id(app))


@ENDPOINTS
@given(data=st.data())
def test_hostile_requests_never_fail_nor_half_save(visitor, endpoint, rule, data):
    hostile, real_values = visitor
    hostile.send(data, endpoint, rule, real_values)


@pytest.fixture
def before_setup(app, client, tracebacks):
    """An anonymous visitor of a site that has no administrator yet (the setup page is open)."""
    token = csrf_token(client, "/setup")
    return Hostile(app, "before setup", client.get_cookie("session").value, token, tracebacks)


# Before setup nearly every address leads to the setup page: one test sends to all of them,
# half of the requests to the setup page itself.
@settings(max_examples=settings.default.max_examples * 4)
@given(data=st.data())
def test_hostile_requests_before_setup_never_fail_nor_half_save(app, before_setup, data):
    with app.app_context():
        before_setup.plausible = {**PLAUSIBLE, "email": "first@example.org", "setup_code": accounts.setup_code()}
    endpoints = ALL_ENDPOINTS if data.draw(st.booleans(), label="any page") else SETUP_PAGE
    endpoint, rule = data.draw(st.sampled_from(endpoints), label="endpoint")
    status = before_setup.send(data, endpoint, rule, {"attempt_id": ["AAAAAAAAAAAAAAAAAAAAAA"]})
    if status == 302:
        # The setup succeeded: back to a site without an administrator for the next example.
        with app.app_context():
            if db.session.execute(db.select(User.id)).first() is not None:
                db.session.execute(db.delete(User))
                db.session.commit()
                app.extensions["oroflask.auth"]["has_administrator"] = False
