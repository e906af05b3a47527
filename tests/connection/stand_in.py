"""A loopback HTTP server that stands in for some endpoints of the local identity provider.

Its discovery document is the provider's, with the endpoints named in `answers` pointing at this
server instead; each of those answers as told: a canned answer, or one dribbled a byte at a time
(its headers or its body), each byte soon enough never to trip a read time-out. Written on bare
sockets, as no web framework sends its headers a byte at a time.
"""

import json
import socket
import socketserver

import requests

from ..loopback import LoopbackServer

DISCOVERY = "discovery"
DRIBBLE_HEADERS = "dribble headers"
DRIBBLE_BODY = "dribble body"
# A byte every DRIBBLE_INTERVAL seconds, DRIBBLE_BYTES of them: a client without a total deadline
# waits DRIBBLE_BYTES * DRIBBLE_INTERVAL seconds (30 s) for an answer that is then no use to it.
DRIBBLE_INTERVAL = 0.2
DRIBBLE_BYTES = 150


class Answer:
    """A canned answer: a status and a JSON body."""

    def __init__(self, status: int, body):
        self.status = status
        self.body = body


class StandIn(LoopbackServer):
    """The server; `answers` maps an endpoint name of the discovery document (or DISCOVERY) to
    DRIBBLE_HEADERS, DRIBBLE_BODY or an Answer."""

    def __init__(self, upstream: str):
        super().__init__(_Handler, name="stand-in")
        self.upstream = upstream
        self.authority = f"http://127.0.0.1:{self.port}"
        self.answers: dict[str, str | Answer] = {}

    def answer_for(self, path: str) -> str | Answer:
        """Return how to answer a request for `path`."""
        if path.endswith("/.well-known/openid-configuration"):
            if DISCOVERY in self.answers:
                return self.answers[DISCOVERY]
            document = requests.get(self.upstream + path, timeout=5).json()
            for name in self.answers:
                document[name] = f"{self.authority}/{name}"
            return Answer(200, document)
        return self.answers.get(path.strip("/"), Answer(404, {"error": "not_found"}))


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1")
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        self.rfile.read(length)
        path = request_line.split(" ")[1] if " " in request_line else "/"
        how = self.server.answer_for(path)
        try:
            if isinstance(how, Answer):
                self._send(how.status, json.dumps(how.body).encode())
            elif how == DRIBBLE_HEADERS:
                self._dribble(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * DRIBBLE_BYTES + b"\r\n\r\n")
            elif how == DRIBBLE_BODY:
                # Connection: close hands the socket over to the response before its body is read.
                headers = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    f"Content-Length: {DRIBBLE_BYTES}\r\n\r\n"
                )
                self.wfile.write(headers.encode())
                self._dribble(b"{" + b" " * (DRIBBLE_BYTES - 2) + b"}")
        except OSError:
            pass  # the client gave up: that is what the tests want

    def _send(self, status: int, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self.wfile.write(head.encode() + body)

    def _dribble(self, data: bytes) -> None:
        for index in range(len(data)):
            if self.server.stopping.wait(DRIBBLE_INTERVAL):
                return
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
