"""What every request and response shares: the proxy in front, form decoding, the session cookie,
security headers, error pages."""

from urllib.parse import parse_qsl

import flask
from flask import Flask, Response, abort, current_app, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import BadHost, HTTPException, SecurityError
from werkzeug.formparser import FormDataParser
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from .htmx import is_htmx_request


def content_security_policy(form_action: tuple[str, ...] = ()) -> str:
    """Return the Content Security Policy; `form_action` names other origins a form may lead to.

    Browsers apply form-action to every redirect that follows a form's POST too.
    """
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            " ".join(("form-action 'self'", *form_action)),
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


CONTENT_SECURITY_POLICY = content_security_policy()

CSRF_MESSAGE = (
    "This page has expired or was sent without its security token. "
    "Reload the page and try again; nothing was saved."
)


class TextFormDataParser(FormDataParser):
    """Decode url-encoded forms as multipart ones are: bytes that are not UTF-8 become U+FFFD.
    Leave out the parts of a multipart form that have no name.

    Werkzeug 3 keeps such bytes as "%FF" text, or drops the whole form when they come unencoded;
    either way the field could not tell the user that what was pasted is not text.
    """

    def parse(self, stream, mimetype, content_length, options=None):
        if mimetype != "application/x-www-form-urlencoded":
            stream, form, files = super().parse(stream, mimetype, content_length, options)
            if None in form:
                # A multipart part without a name is no field; Flask-WTF fails on a None key.
                form = self.cls((name, value) for name, value in form.items(multi=True) if name is not None)
            return stream, form, files
        text = stream.read().decode("utf-8", "replace")
        fields = parse_qsl(text, keep_blank_values=True, errors="replace")
        return stream, self.cls(fields), self.cls()


class Request(flask.Request):
    form_data_parser_class = TextFormDataParser


# What the pages' forms send; Flask-WTF would also read JSON into a form, which no page sends.
FORM_ENCODINGS = frozenset(("application/x-www-form-urlencoded", "multipart/form-data"))
# The methods whose body Flask-WTF reads into a form.
FORM_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


def accepts_files(view):
    """Let a view take files in a multipart form; it sets request.max_content_length before it reads them."""
    view.accepts_files = True
    return view


def _forms_only():
    """Refuse a body that is not a form of text fields: JSON, other types, or a file (but where a view takes files)."""
    if request.method not in FORM_METHODS or request.routing_exception is not None:
        return
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "accepts_files", False) and request.mimetype == "multipart/form-data":
        return  # read by the view, under the limit it sets first
    if request.mimetype in FORM_ENCODINGS:
        if request.files:
            abort(415)
    elif request.mimetype or request.content_length or request.headers.get("Transfer-Encoding"):
        abort(415)


class TokenConverter(BaseConverter):
    """A path segment that is an id made by secrets.token_urlsafe: anything else is not found."""

    regex = r"[A-Za-z0-9_-]{1,64}"


def init_app(app: Flask) -> None:
    """Trust the configured proxies, accept and decode forms as text only, and register the
    `token` path converter, the security headers and the error handlers."""
    hops = app.config["PROXY_FIX"]
    if any(hops.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)
    app.request_class = Request
    app.url_map.converters["token"] = TokenConverter
    app.session_interface = SessionInterface()
    app.before_request(_forms_only)
    app.after_request(_security_headers)
    app.register_error_handler(SecurityError, _untrusted_host)
    app.register_error_handler(BadHost, _bad_host)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


# Set on every answer; a view may set a stricter one itself (a page whose URL holds a secret sends
# no Referer at all).
FIXED_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


def _security_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in FIXED_HEADERS:
        headers.setdefault(name, value)
    if "Content-Security-Policy" not in headers:  # the local identity provider's pages set their own
        headers.add("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if request.endpoint != "static":
        if "Cache-Control" not in headers:
            headers.add("Cache-Control", "no-store")
        # Pages and their htmx fragments share URLs (errors, redirects): caches must tell them apart.
        response.vary.add("HX-Request")
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its serializer built once per set of keys.

    Flask builds a new serializer, and tries it on an empty dict, twice for every request (to open
    and to save the session); the keys change only with the configuration.
    """

    _serializer: tuple[tuple, URLSafeTimedSerializer | None] = ((), None)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached_keys, serializer = self._serializer
        if cached_keys != keys:
            serializer = super().get_signing_serializer(app)
            self._serializer = (keys, serializer)
        return serializer


def error_response(status: int, title: str, message: str) -> tuple[str, int]:
    """Render an error as a page, or for htmx as an alert swapped into the page's alert area."""
    if is_htmx_request():
        body = render_template("errors/_alert.html", title=title, message=message)
        return body, status, {"HX-Retarget": "#page-alert", "HX-Reswap": "innerHTML"}
    return render_template("errors/error.html", title=title, message=message, status=status), status


def _untrusted_host(error: SecurityError):
    # The request names a host outside TRUSTED_HOSTS: no URL can be built for it, so no page either.
    current_app.logger.warning(
        "Refused a request for the host %r, which is not in TRUSTED_HOSTS",
        request.headers.get("Host", "")[:100],
    )
    return "Bad request: unknown host.\n", 400, {"Content-Type": "text/plain; charset=utf-8"}


def _bad_host(error: BadHost):
    # The Host header is not a host name (too long, say): no URL can be built, so no page either.
    return "Bad request: the Host header is not valid.\n", 400, {"Content-Type": "text/plain; charset=utf-8"}


def _csrf_error(error: CSRFError):
    return error_response(400, "Please reload the page", CSRF_MESSAGE)


MESSAGES = {
    400: ("Bad request", "The request could not be understood. Reload the page and try again."),
    403: ("Not allowed", "Your account is not allowed to open this page. Ask an administrator."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "What was sent is larger than this page accepts; nothing was saved."),
    415: (
        "Not a form",
        "This address accepts only what its form sends (text fields, no files, no JSON); nothing was saved.",
    ),
    429: ("Too many attempts", "Too many attempts; wait a little and try again."),
}


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    title, message = MESSAGES.get(error.code, (error.name, "The request could not be completed."))
    return error_response(error.code, title, message)


def _unexpected_error(error: Exception):
    # The page shows nothing of the error, as its text may hold a secret.
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return error_response(
        500, "Something went wrong", "The server could not complete the request; nothing was saved."
    )
