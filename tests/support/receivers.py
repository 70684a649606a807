"""A webhook receiver on 127.0.0.1 for tests that run the worker as a process."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HookReceiver:
    """Keeps the webhook-id of every POST (webhooks and generic CRM pushes alike).

    Its port refuses connections until ``open()``: a receiver that is down, then up at
    the same address. Each request is held until ``release`` is set (set it at once for
    a receiver that answers at once), then answered 200.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks"
        self.received: list[str] = []
        self.events: list[str] = []
        self.release = threading.Event()
        self.serving = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(self.headers["webhook-id"])
                outer.events.append(body.get("type") or body.get("event"))
                outer.release.wait(30)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(self.sock.getsockname(), Handler,
                                          bind_and_activate=False)
        self.server.socket.close()
        self.server.socket = self.sock

    def open(self) -> None:
        self.sock.listen(64)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.serving = True

    def close(self) -> None:
        self.release.set()
        if self.serving:
            self.server.shutdown()
        self.server.server_close()
