"""Imports every domain's models so `Base.metadata` holds the whole schema (Alembic, tests)."""

from __future__ import annotations

from sqlalchemy import MetaData

import affiliates.call_models  # noqa: F401
import affiliates.cpa_models  # noqa: F401
import affiliates.models  # noqa: F401
import affiliates.tracking_models  # noqa: F401
import billing.invoice_models  # noqa: F401
import billing.models  # noqa: F401
import billing.payout_models  # noqa: F401
import fraud.models  # noqa: F401
import leadmarket.accounts  # noqa: F401
import leadmarket.audit  # noqa: F401
import leadmarket.identity  # noqa: F401
import leadmarket.idempotency  # noqa: F401
import leadmarket.jobs  # noqa: F401
import marketplace.delivery_models  # noqa: F401
import marketplace.models  # noqa: F401
import marketplace.order_models  # noqa: F401
import marketplace.ping_models  # noqa: F401
import marketplace.sale_models  # noqa: F401
from leadmarket.db import Base


def metadata() -> MetaData:
    return Base.metadata
