"""A threaded TCP server on a free loopback port, for the stand-ins that play a misbehaving peer."""

import socketserver
import threading


class LoopbackServer(socketserver.ThreadingTCPServer):
    """Serve `handler` on 127.0.0.1 at a free port (`port`) in a thread; `start()` it, `stop()` it.

    `stopping` is set when it stops, so that a handler stalling on purpose can give up.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler, name: str):
        super().__init__(("127.0.0.1", 0), handler)
        self.port = self.server_address[1]
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.1,), name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self._thread.join()
        self.server_close()
