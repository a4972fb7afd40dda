"""The threaded HTTP server both local test servers (Hub, scripted LLM) stand on.

Handler threads are not daemons, so `server_close()` joins them and no thread outlives a test;
open keep-alive connections are tracked so `stop()` can shut them instead of waiting them out.
"""

from __future__ import annotations

import socket
import threading
from http.server import ThreadingHTTPServer


class TrackingHTTPServer(ThreadingHTTPServer):
    daemon_threads = False

    def __init__(self, address, handler_class):
        super().__init__(address, handler_class)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, active: bool) -> None:
        with self._connections_lock:
            (self._connections.add if active else self._connections.discard)(connection)

    def close_open_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the peer
