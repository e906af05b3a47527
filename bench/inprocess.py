"""What each request costs inside the application, without an HTTP server or a load generator.

    .venv/bin/python bench/inprocess.py [--batches 15]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python bench/inprocess.py --signed-in-only 1000

Calls the WSGI application directly with a prepared request (the same database, admin and URLs
as bench/run.py) and prints, per URL, the CPU time of one request: the best of several batches,
as the least disturbed by the rest of the machine. Two reference rows show the floor every
signed-in request pays: an empty view behind `admin_required`, and the bare Flask app.

`--signed-in-only N` makes N requests of the empty view and measures nothing itself: under
callgrind, the instructions of N requests less those of 0 give the cost of one, whatever the
machine's load.
"""

import argparse
import io
import sys
import tempfile
import timeit
from pathlib import Path

from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402
from bench.hello import app as hello_app  # noqa: E402
from oroflask import create_app  # noqa: E402
from oroflask.auth.access import admin_required  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument(
        "--signed-in-only", type=int, metavar="N", help="make N signed-in requests and measure nothing"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        run.prepare(Path(instance), f"sqlite:///{instance}/bench.sqlite")
        app = create_app()

        @app.route("/_bench/signed-in")
        @admin_required
        def signed_in():
            return "ok"

        cookie, csrf = sign_in(app)
        browser = {"User-Agent": run.BROWSER, "Cookie": cookie}
        if args.signed_in_only is not None:
            make(app, [request("/_bench/signed-in", browser)], 50 + args.signed_in_only)
            return
        htmx = {**browser, "HX-Request": "true", "X-CSRFToken": csrf}
        save = f"{run.PAGE}/fields/client_id"
        cases = [
            ("hello world (bare Flask)", hello_app, [request("/")], 2000),
            ("empty view, signed-in admin", app, [request("/_bench/signed-in", browser)], 2000),
            ("/healthz", app, [request("/healthz")], 2000),
            ("status poll", app, [request(f"/oauth/microsoft/attempts/{run.ATTEMPT}", htmx)], 1000),
            ("settings page", app, [request(run.PAGE, browser)], 300),
            # Alternating two values, as bench/live_save.lua does: every save stores a change.
            ("live save", app, [request(save, htmx, {"client_id": value}) for value in (run.OTHER_CLIENT_ID, run.CLIENT_ID)], 300),
        ]
        results = [(name, cost(application, requests, number, args.batches)) for name, application, requests, number in cases]
    hello = results[0][1]
    print(f"\nCPU time of one request in process, best of {args.batches} batches\n")
    print("| request | µs | × hello world |")
    print("|---|---:|---:|")
    for name, microseconds in results:
        print(f"| {name} | {microseconds:.0f} | {microseconds / hello:.1f} |")


def sign_in(app) -> tuple[str, str]:
    """Sign the benchmark admin in; return the session cookie and the page's CSRF token."""
    client = run.signed_in_client(app)
    csrf = run.htmx_token(client.get(run.PAGE).get_data(as_text=True))
    return "session=" + client.get_cookie("session").value, csrf


def request(path: str, headers: dict | None = None, form: dict | None = None) -> tuple[dict, bytes]:
    """Build a request's WSGI environment once, with its body (from the same address as sign_in)."""
    builder = EnvironBuilder(
        path=path,
        method="POST" if form is not None else "GET",
        headers=headers or {},
        data=form,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    environ = builder.get_environ()
    return environ, environ["wsgi.input"].read()


def caller(application, requests: list[tuple[dict, bytes]]):
    """Return a function that makes one request, cycling through `requests`."""
    turn = iter(range(sys.maxsize))

    def one(start_response=lambda status, headers, exc_info=None: None) -> None:
        environ, body = requests[next(turn) % len(requests)]
        environ = {**environ, "wsgi.input": io.BytesIO(body)}
        answer = application(environ, start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()

    return one


def make(application, requests: list[tuple[dict, bytes]], number: int) -> None:
    """Make `number` requests and measure nothing (for a count of instructions)."""
    one = caller(application, requests)
    for _ in range(number):
        one()


def cost(application, requests: list[tuple[dict, bytes]], number: int, batches: int) -> float:
    """Return the best time of one request, in µs, cycling through `requests`."""
    statuses = []
    one = caller(application, requests)
    for _ in range(200):
        one(lambda status, headers, exc_info=None: statuses.append(status))
    if any(not status.startswith("200") for status in statuses):
        raise SystemExit(f"{requests[0][0]['PATH_INFO']} answered {sorted(set(statuses))}: nothing to measure")
    return min(timeit.repeat(one, number=number, repeat=batches)) / number * 1e6


if __name__ == "__main__":
    main()
