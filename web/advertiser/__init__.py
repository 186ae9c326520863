"""The advertiser's portal pages; `ROUTES` is what web/portal.py mounts (all behind the advertiser role guard)."""

from __future__ import annotations

from typing import Any

from web.advertiser.billing import BILLING_ROUTES
from web.advertiser.dashboard import DASHBOARD_ROUTES
from web.advertiser.orders import ORDER_ROUTES
from web.advertiser.purchases import PURCHASE_ROUTES
from web.advertiser.settings import SETTINGS_ROUTES
from web.advertiser.store import STORE_ROUTES

ROUTES: list[Any] = [*DASHBOARD_ROUTES, *STORE_ROUTES, *PURCHASE_ROUTES, *ORDER_ROUTES, *BILLING_ROUTES,
                     *SETTINGS_ROUTES]
