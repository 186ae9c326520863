"""Logging set-up: one line per event, UTC times, the request ID on every line; request bodies
and contact data are never logged."""

from __future__ import annotations

import logging
import time

from leadmarket.request_id import request_id_var

FORMAT = "%(asctime)sZ %(levelname)s %(name)s [%(request_id)s] %(message)s"
_configured = False


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's ID (`-` outside a request: workers, CLI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler()
    formatter = logging.Formatter(FORMAT, "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    # On the handler, not the logger: a filter on a logger skips records its children propagate.
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("leadmarket")
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _configured = True
