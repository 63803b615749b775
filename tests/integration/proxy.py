"""A TCP proxy in front of a real server, for tests of what a client does when the link fails.

``stall()``: connections stay open, bytes are read and never passed on (a paused
link or a frozen server); new connections are accepted and never answered.
``cut()``: every connection is closed and new ones are refused (a server down);
``restore()``: forwarding again, on the same port.
"""

from __future__ import annotations

import socket
import threading


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.stalled = threading.Event()
        self.port = 0
        self.sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listen()

    def _listen(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _keep(self, s: socket.socket) -> None:
        with self._lock:
            self.sockets.append(s)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._keep(client)
            if self.stalled.is_set():
                continue  # accepted, never answered
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._keep(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.stalled.is_set():
                    continue  # swallowed: the other side waits forever
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stall(self) -> None:
        self.stalled.set()

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way: closing alone leaves it one more connection
        except OSError:
            pass
        self.listener.close()
        with self._lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        self.stalled.clear()
        self._listen()

    def close(self) -> None:
        self.cut()
