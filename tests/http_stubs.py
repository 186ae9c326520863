"""A real HTTP server on a free loopback port for tests: records what it receives, answers from a
script of status codes (then 200), optionally after a delay. Buyers' webhooks and affiliates'
postback trackers are both this server with a different `record`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Recorder = Callable[[BaseHTTPRequestHandler, bytes], Any]


def raw_request(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    return {"headers": dict(handler.headers), "body": body}


class ScriptedServer:
    def __init__(self, path: str, statuses: list[int] | None = None, *, hang_seconds: float = 0.0,
                 record: Recorder = raw_request) -> None:
        self.requests: list[Any] = []
        self.statuses = list(statuses or [])
        self.hang_seconds = hang_seconds
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.requests.append(record(self, self.rfile.read(length) if length else b""))
                if server.hang_seconds:
                    time.sleep(server.hang_seconds)
                status = server.statuses.pop(0) if server.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
