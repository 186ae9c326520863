"""A small HTTP fake of the Stripe endpoints localstripe lacks or gets wrong — Connect transfers;
customers, invoice items and standalone invoices (create, finalize, send, pay); PaymentIntents with
idempotency — following Stripe's idempotency rules: the same Idempotency-Key with the same endpoint
and parameters gets the first answer again (and nothing new happens); the same key with another
endpoint or other parameters gets 400 `idempotency_error`.

Start it with `StripeFake.start()`; point the official SDK at `fake.url`. `fail_next` makes the
next requests (only those whose path starts with `fail_path`, when set) do their work and then
answer 500 (a lost answer), as a flaky network would. Paying an invoice records the `invoice.paid`
event Stripe would send in `events`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

Params = list[tuple[str, str]]
Answer = tuple[int, dict[str, Any]]

_INVOICE_ACTION = re.compile(r"^/v1/invoices/(?P<id>in_[A-Za-z0-9]+)/(?P<action>finalize|send|pay)$")


@dataclass
class StripeFake:
    server: ThreadingHTTPServer
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoice_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, idempotency key
    fail_next: int = 0
    fail_path: str | None = None
    _answers: dict[str, tuple[str, Params, int, dict[str, Any]]] = field(default_factory=dict)
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

    # --- requests -------------------------------------------------------------------------------

    def handle_post(self, path: str, params: Params, key: str | None) -> tuple[int, dict[str, Any], bool | None]:
        with self._lock:
            self.requests.append(("POST", path, key))
            if key is not None and key in self._answers:
                first_path, first_params, status, body = self._answers[key]
                if (first_path, first_params) != (path, params):
                    return 400, _error("idempotency_error", "Keys for idempotent requests can only be used with "
                                       "the same parameters they were first used with."), False
            else:
                status, body = self._route_post(path, dict(params))
                if key is not None:
                    self._answers[key] = (path, params, status, json.loads(json.dumps(body)))
            if self.fail_next > 0 and (self.fail_path is None or path.startswith(self.fail_path)):
                self.fail_next -= 1
                return 500, _error("api_error", "An unknown error occurred"), False
            return status, body, None

    def handle_get(self, path: str) -> tuple[int, dict[str, Any], bool | None]:
        with self._lock:
            self.requests.append(("GET", path, None))
            for prefix, objects in (("/v1/transfers/", self.transfers), ("/v1/invoices/", self.invoices),
                                    ("/v1/customers/", self.customers), ("/v1/invoiceitems/", self.invoice_items),
                                    ("/v1/payment_intents/", self.payment_intents)):
                object_id = path.split("?")[0].removeprefix(prefix)
                if path.startswith(prefix) and object_id in objects:
                    return 200, objects[object_id], None
            return 404, _error("invalid_request_error", f"No such object: '{path}'"), None

    def _route_post(self, path: str, params: dict[str, str]) -> Answer:
        routes = {"/v1/transfers": self._create_transfer, "/v1/customers": self._create_customer,
                  "/v1/invoices": self._create_invoice, "/v1/invoiceitems": self._create_invoice_item,
                  "/v1/payment_intents": self._create_payment_intent}
        if path in routes:
            return routes[path](params)
        action = _INVOICE_ACTION.match(path)
        if action is not None:
            invoice = self.invoices.get(action["id"])
            if invoice is None:
                return 404, _error("invalid_request_error", f"No such invoice: '{action['id']}'")
            return {"finalize": self._finalize, "send": self._send, "pay": self._pay}[action["action"]](invoice)
        return 404, _error("invalid_request_error", f"Unrecognized request URL (POST: {path})")

    # --- Connect transfers ----------------------------------------------------------------------

    def _create_transfer(self, params: dict[str, str]) -> Answer:
        amount, currency, destination = params.get("amount", ""), params.get("currency", ""), params.get("destination", "")
        if not amount.isdigit() or int(amount) <= 0 or len(currency) != 3 or not destination.startswith("acct_"):
            return 400, _error("invalid_request_error", "amount, currency and a connected account destination "
                               "are required")
        transfer_id = f"tr_fake{next(self._ids):08d}"
        self.transfers[transfer_id] = {
            "id": transfer_id, "object": "transfer", "amount": int(amount), "amount_reversed": 0,
            "currency": currency, "destination": destination, "transfer_group": params.get("transfer_group"),
            "metadata": _metadata(params), "created": int(time.time()), "livemode": False, "reversed": False,
            "reversals": {"object": "list", "data": [], "has_more": False, "url": f"/v1/transfers/{transfer_id}/reversals"}}
        return 200, self.transfers[transfer_id]

    def keys_seen(self, path: str = "/v1/transfers") -> list[str | None]:
        return [key for method, seen, key in self.requests if method == "POST" and seen == path]

    # --- customers and invoices -----------------------------------------------------------------

    def _create_customer(self, params: dict[str, str]) -> Answer:
        customer_id = f"cus_fake{next(self._ids):08d}"
        self.customers[customer_id] = {"id": customer_id, "object": "customer", "name": params.get("name"),
                                       "email": params.get("email"), "metadata": _metadata(params),
                                       "created": int(time.time()), "livemode": False}
        return 200, self.customers[customer_id]

    def _create_invoice(self, params: dict[str, str]) -> Answer:
        customer = params.get("customer", "")
        if customer not in self.customers:
            return 400, _error("invalid_request_error", f"No such customer: '{customer}'")
        if params.get("collection_method") == "send_invoice" and not params.get("days_until_due", "").isdigit():
            return 400, _error("invalid_request_error", "days_until_due is required with send_invoice")
        invoice_id = f"in_fake{next(self._ids):08d}"
        self.invoices[invoice_id] = {
            "id": invoice_id, "object": "invoice", "customer": customer, "status": "draft", "number": None,
            "currency": params.get("currency", "usd"), "amount_due": 0, "amount_paid": 0, "amount_remaining": 0,
            "total": 0, "collection_method": params.get("collection_method", "charge_automatically"),
            "auto_advance": params.get("auto_advance") == "true", "description": params.get("description"),
            "metadata": _metadata(params), "hosted_invoice_url": None, "created": int(time.time()),
            "livemode": False, "lines": {"object": "list", "data": [], "has_more": False,
                                         "url": f"/v1/invoices/{invoice_id}/lines"}}
        return 200, self.invoices[invoice_id]

    def _create_invoice_item(self, params: dict[str, str]) -> Answer:
        amount, invoice_id = params.get("amount", ""), params.get("invoice", "")
        invoice = self.invoices.get(invoice_id)
        if not re.fullmatch(r"-?\d+", amount) or invoice is None or invoice["customer"] != params.get("customer"):
            return 400, _error("invalid_request_error", "amount and an invoice of this customer are required")
        if invoice["status"] != "draft":
            return 400, _error("invalid_request_error", "Invoice items can only be added to draft invoices")
        if params.get("currency") != invoice["currency"]:
            return 400, _error("invalid_request_error", "The currency must be the invoice's")
        item_id = f"ii_fake{next(self._ids):08d}"
        item = {"id": item_id, "object": "invoiceitem", "customer": params["customer"], "invoice": invoice_id,
                "amount": int(amount), "currency": params["currency"], "description": params.get("description"),
                "metadata": _metadata(params), "livemode": False}
        self.invoice_items[item_id] = item
        invoice["lines"]["data"].append({"id": f"il_{item_id}", "object": "line_item", "amount": int(amount),
                                         "currency": item["currency"], "description": item["description"],
                                         "metadata": item["metadata"]})
        for total in ("amount_due", "amount_remaining", "total"):
            invoice[total] += int(amount)
        return 200, item

    def _finalize(self, invoice: dict[str, Any]) -> Answer:
        if invoice["status"] != "draft":
            return 400, _error("invalid_request_error", "This invoice is already finalized, you can't re-finalize "
                               "a non-draft invoice.")
        invoice.update(status="open", number=f"FAKE-{len([i for i in self.invoices.values() if i['number']]) + 1:04d}",
                       hosted_invoice_url=f"https://invoice.stripe.test/{invoice['id']}")
        return 200, invoice

    def _send(self, invoice: dict[str, Any]) -> Answer:
        if invoice["status"] not in ("open", "paid"):
            return 400, _error("invalid_request_error", "You can only send an open or paid invoice")
        invoice["sent"] = invoice.get("sent", 0) + 1
        return 200, invoice

    def _pay(self, invoice: dict[str, Any]) -> Answer:
        """What the customer does with the hosted invoice: pay it in full; Stripe then sends invoice.paid."""
        if invoice["status"] != "open":
            return 400, _error("invalid_request_error", "Invoice is already paid" if invoice["status"] == "paid"
                               else "Only an open invoice can be paid")
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        self.events.append({"id": f"evt_fake{next(self._ids):08d}", "object": "event", "type": "invoice.paid",
                            "created": int(time.time()), "livemode": False, "api_version": "2025-01-01",
                            "data": {"object": json.loads(json.dumps(invoice))}})
        return 200, invoice

    # --- PaymentIntents (localstripe creates one per request whatever the idempotency key) -------

    def _create_payment_intent(self, params: dict[str, str]) -> Answer:
        amount = params.get("amount", "")
        if not amount.isdigit() or int(amount) <= 0 or len(params.get("currency", "")) != 3:
            return 400, _error("invalid_request_error", "amount and currency are required")
        intent_id = f"pi_fake{next(self._ids):08d}"
        self.payment_intents[intent_id] = {
            "id": intent_id, "object": "payment_intent", "amount": int(amount), "amount_received": 0,
            "currency": params["currency"], "status": "requires_payment_method", "metadata": _metadata(params),
            "client_secret": f"{intent_id}_secret_fake", "created": int(time.time()), "livemode": False}
        return 200, self.payment_intents[intent_id]


def _metadata(params: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata["):-1]: v for k, v in params.items() if k.startswith("metadata[")}


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}
