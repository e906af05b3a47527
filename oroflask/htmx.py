"""Small helpers for answering htmx requests."""

from flask import Response, redirect, request


def is_htmx_request() -> bool:
    """Tell whether the current request was sent by htmx (and is not a history restore)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )


def redirect_to(location: str, status: int = 302) -> Response:
    """Redirect the browser: an `HX-Redirect` for htmx, so no whole page lands inside a field."""
    if is_htmx_request():
        response = Response(status=204 if status < 400 else status)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, status)
