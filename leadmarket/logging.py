"""Logging set-up: one line per event, UTC times; request bodies and contact data are never logged."""

from __future__ import annotations

import logging
import time

_configured = False


def configure_logging(level: int = logging.INFO) -> None:
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler()
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("leadmarket")
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _configured = True
