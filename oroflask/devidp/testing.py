"""Run the dev identity provider on a loopback port for tests that talk to it over real HTTP."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server


class QuietRequestHandler(WSGIRequestHandler):
    """A request handler that logs no request lines: their query strings carry codes and tokens."""

    def log_request(self, code="-", size="-") -> None:
        """Log nothing."""


@contextmanager
def serve(app: Flask, poll_interval: float = 0.5) -> Iterator[str]:
    """Serve `app` on a free loopback port in a daemon thread; yield its base URL; stop it on exit.

    Stopping waits up to `poll_interval` seconds for the server's loop to notice.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(
        target=server.serve_forever, args=(poll_interval,), name="devidp", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
