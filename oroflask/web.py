"""What every request and response shares: the proxy in front, form decoding, security headers,
error pages."""

from urllib.parse import parse_qsl

import flask
from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.formparser import FormDataParser
from werkzeug.middleware.proxy_fix import ProxyFix

from .htmx import is_htmx_request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)

CSRF_MESSAGE = (
    "This page has expired or was sent without its security token. "
    "Reload the page and try again; nothing was saved."
)


class TextFormDataParser(FormDataParser):
    """Decode url-encoded forms as multipart ones are: bytes that are not UTF-8 become U+FFFD.

    Werkzeug 3 keeps them as "%FF" text, or drops the whole form when they come unencoded;
    either way the field could not tell the user that what was pasted is not text.
    """

    def parse(self, stream, mimetype, content_length, options=None):
        if mimetype != "application/x-www-form-urlencoded":
            return super().parse(stream, mimetype, content_length, options)
        text = stream.read().decode("utf-8", "replace")
        fields = parse_qsl(text, keep_blank_values=True, errors="replace")
        return stream, self.cls(fields), self.cls()


class Request(flask.Request):
    form_data_parser_class = TextFormDataParser


def init_app(app: Flask) -> None:
    """Trust the configured proxies, decode forms as text, and register the security headers and
    the error handlers."""
    hops = app.config["PROXY_FIX"]
    if any(hops.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)
    app.request_class = Request
    app.after_request(_security_headers)
    app.register_error_handler(SecurityError, _untrusted_host)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
        # Pages and their htmx fragments share URLs (errors, redirects): caches must tell them apart.
        response.vary.add("HX-Request")
    return response


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


def _csrf_error(error: CSRFError):
    return error_response(400, "Please reload the page", CSRF_MESSAGE)


MESSAGES = {
    400: ("Bad request", "The request could not be understood. Reload the page and try again."),
    403: ("Not allowed", "Your account is not allowed to open this page. Ask an administrator."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "What was sent is larger than this page accepts; nothing was saved."),
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
