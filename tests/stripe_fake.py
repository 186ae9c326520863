"""A small HTTP fake of the Stripe Connect transfer endpoints localstripe lacks, following Stripe's
idempotency rules: the same Idempotency-Key with the same parameters gets the first answer again
(and nothing new happens); the same key with other parameters gets 400 `idempotency_error`.

Start it with `StripeFake.start()`; point the official SDK at `fake.url`. `fail_next` makes the
next requests do their work and then answer 500 (a lost answer), as a flaky network would.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class StripeFake:
    server: ThreadingHTTPServer
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, idempotency key
    fail_next: int = 0
    _answers: dict[str, tuple[list[tuple[str, str]], int, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @classmethod
    def start(cls) -> StripeFake:
        fake: StripeFake

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                params = sorted(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                self._answer(*fake.handle_post(self.path, params, self.headers.get("Idempotency-Key")))

            def do_GET(self) -> None:
                self._answer(*fake.handle_get(self.path))

            def _answer(self, status: int, body: dict[str, Any], should_retry: bool | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", f"req_{next(fake._ids)}")
                if should_retry is not None:
                    self.send_header("Stripe-Should-Retry", "true" if should_retry else "false")
                self.end_headers()
                self.wfile.write(raw)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        fake = cls(server=server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return fake

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle_post(self, path: str, params: list[tuple[str, str]], key: str | None
                    ) -> tuple[int, dict[str, Any], bool | None]:
        with self._lock:
            self.requests.append(("POST", path, key))
            if key is not None and key in self._answers:
                first_params, status, body = self._answers[key]
                if first_params != params:
                    return 400, _error("idempotency_error", "Keys for idempotent requests can only be used with "
                                       "the same parameters they were first used with."), False
            elif path == "/v1/transfers":
                status, body = self._create_transfer(dict(params))
                if key is not None:
                    self._answers[key] = (params, status, body)
            else:
                status, body = 404, _error("invalid_request_error", f"Unrecognized request URL (POST: {path})")
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, _error("api_error", "An unknown error occurred"), False
            return status, body, None

    def handle_get(self, path: str) -> tuple[int, dict[str, Any], bool | None]:
        with self._lock:
            self.requests.append(("GET", path, None))
            transfer_id = path.removeprefix("/v1/transfers/")
            if path.startswith("/v1/transfers/") and transfer_id in self.transfers:
                return 200, self.transfers[transfer_id], None
            return 404, _error("invalid_request_error", f"No such transfer: '{transfer_id}'"), None

    def _create_transfer(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        amount, currency, destination = params.get("amount", ""), params.get("currency", ""), params.get("destination", "")
        if not amount.isdigit() or int(amount) <= 0 or len(currency) != 3 or not destination.startswith("acct_"):
            return 400, _error("invalid_request_error", "amount, currency and a connected account destination "
                               "are required")
        transfer_id = f"tr_fake{next(self._ids):08d}"
        metadata = {k[len("metadata["):-1]: v for k, v in params.items() if k.startswith("metadata[")}
        self.transfers[transfer_id] = {
            "id": transfer_id, "object": "transfer", "amount": int(amount), "amount_reversed": 0,
            "currency": currency, "destination": destination, "transfer_group": params.get("transfer_group"),
            "metadata": metadata, "created": int(time.time()), "livemode": False, "reversed": False,
            "reversals": {"object": "list", "data": [], "has_more": False, "url": f"/v1/transfers/{transfer_id}/reversals"}}
        return 200, self.transfers[transfer_id]

    def keys_seen(self) -> list[str | None]:
        return [key for method, path, key in self.requests if method == "POST" and path == "/v1/transfers"]


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}
