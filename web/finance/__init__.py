"""The finance's portal pages; `ROUTES` is what web/portal.py mounts (all behind the finance role guard)."""

from __future__ import annotations

from typing import Any

from web.finance.audit_log import AUDIT_ROUTES
from web.finance.balances import BALANCE_ROUTES
from web.finance.payouts import PAYOUT_ROUTES
from web.finance.reports import REPORT_ROUTES

ROUTES: list[Any] = [*PAYOUT_ROUTES, *REPORT_ROUTES, *BALANCE_ROUTES, *AUDIT_ROUTES]
